//go:build !linux

package testrabbit

import "errors"

// Server is a private RabbitMQ broker; off Linux there is none.
type Server struct{}

// ErrMissing: rabbitmq-server is not installed.
var ErrMissing = errors.New("testrabbit: RabbitMQ tests run on Linux only")

// Skip reports why the tests cannot run here: off Linux, always.
func Skip() string { return "testrabbit: RabbitMQ tests run on Linux only" }

// Start fails off Linux.
func Start() (*Server, error) { return nil, ErrMissing }

func (s *Server) URL(path string) string { return "" }
func (s *Server) Restart() error         { return ErrMissing }
func (s *Server) Kill()                  {}
func (s *Server) StartAgain() error      { return ErrMissing }
func (s *Server) Stop()                  {}
