package grpc_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/grpc"
	"github.com/farpipe/farpipe/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		Scheme:     grpc.Scheme,
		ListenAddr: func(*testing.T) string { return "127.0.0.1:0" },
	})
}

func TestBadAddress(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:99999"} {
		if _, err := grpc.New().Dial(ctx, addr); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Dial(%q) error %v; want ErrBadAddress", addr, err)
		}
		if _, err := grpc.New().Listen(ctx, addr); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Listen(%q) error %v; want ErrBadAddress", addr, err)
		}
	}
}

// TestDialRefusedIs checks that the error of the TCP dial is kept.
func TestDialRefusedIs(t *testing.T) {
	ln, err := grpc.New().Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = grpc.New().Dial(context.Background(), addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a closed port: error %v; want errors.Is ECONNREFUSED", err)
	}
}
