package grpc

import (
	"fmt"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// The one gRPC method of the transport: a bidirectional stream of raw
// byte messages. The service is written by hand (no .proto file, no protoc
// step): its messages are opaque bytes, moved by [codec].
const (
	serviceName = "farpipe.Pipe"
	methodName  = "Stream"
	fullMethod  = "/" + serviceName + "/" + methodName
)

// serviceDesc describes the service to grpc.Server.RegisterService; the
// registered value is the *listener that receives the streams.
var serviceDesc = grpclib.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Streams: []grpclib.StreamDesc{{
		StreamName:    methodName,
		Handler:       handleStream,
		ServerStreams: true,
		ClientStreams: true,
	}},
}

// message is the one message type of the stream. On the way out, data is
// a buffer the codec hands to gRPC, which frees it once written. On the way
// in, in reads the received bytes; whoever holds it must Close it.
type message struct {
	data mem.BufferSlice
	in   *mem.Reader
}

// codec passes messages through unchanged: no protobuf, no copy. Its name
// is the content-subtype of the stream ("application/grpc+farpipe").
type codec struct{}

func (codec) Name() string { return "farpipe" }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*message)
	if !ok {
		return nil, fmt.Errorf("farpipe: grpc codec cannot marshal %T", v)
	}
	data := m.data
	m.data = nil // gRPC owns it now
	return data, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*message)
	if !ok {
		return fmt.Errorf("farpipe: grpc codec cannot unmarshal into %T", v)
	}
	m.in = data.Reader() // takes its own references
	return nil
}
