// kubelet-dial connects to a CRI / containerd socket the way kubelet 1.26-1.30
// does: grpc.Dial with the bare socket path as the target, a unix context
// dialer and insecure credentials. With the grpc-go in go.mod the socket path
// goes out as the HTTP/2 :authority. It calls CRI runtime.v1 Version and
// containerd's version.v1 Version, prints both, and exits non-zero on error.
//
// With -oversize-mib N it also sends an N MiB request and expects
// RESOURCE_EXHAUSTED back.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// versionResponse is containerd.services.version.v1.VersionResponse.
type versionResponse struct {
	Version  string `protobuf:"bytes,1,opt,name=version,proto3"`
	Revision string `protobuf:"bytes,2,opt,name=revision,proto3"`
}

func (m *versionResponse) Reset()         { *m = versionResponse{} }
func (m *versionResponse) String() string { return m.Version + " " + m.Revision }
func (*versionResponse) ProtoMessage()    {}

// rawCodec sends a request's bytes as they are, to make an oversized message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { return nil }
func (rawCodec) Name() string                       { return "proto" }

func main() {
	socket := flag.String("socket", "", "unix socket path")
	oversize := flag.Int("oversize-mib", 0, "also send a request of this many MiB and expect RESOURCE_EXHAUSTED")
	timeout := flag.Duration("timeout", 60*time.Second, "deadline for each call")
	flag.Parse()
	if *socket == "" {
		fail("-socket is required")
	}

	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", addr)
	}
	conn, err := grpc.Dial(*socket, grpc.WithContextDialer(dialer), grpc.WithInsecure())
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()
	ctx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), *timeout)
	}

	c, cancel := ctx()
	cri, err := runtimeapi.NewRuntimeServiceClient(conn).Version(c, &runtimeapi.VersionRequest{})
	cancel()
	if err != nil {
		fail("CRI Version: %v", err)
	}
	fmt.Printf("cri runtime=%s version=%s api=%s\n", cri.RuntimeName, cri.RuntimeVersion, cri.RuntimeApiVersion)

	c, cancel = ctx()
	var v versionResponse
	err = conn.Invoke(c, "/containerd.services.version.v1.Version/Version", &emptypb.Empty{}, &v)
	cancel()
	if err != nil {
		fail("containerd Version: %v", err)
	}
	fmt.Printf("containerd version=%s revision=%s\n", v.Version, v.Revision)

	if *oversize > 0 {
		c, cancel = ctx()
		big := make([]byte, *oversize<<20)
		err = conn.Invoke(c, "/containerd.services.version.v1.Version/Version", big, &v, grpc.ForceCodec(rawCodec{}))
		cancel()
		if status.Code(err) != codes.ResourceExhausted {
			fail("%d MiB request: want ResourceExhausted, got %v", *oversize, err)
		}
		fmt.Printf("oversize code=%s\n", status.Code(err))
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubelet-dial: "+format+"\n", args...)
	os.Exit(1)
}
