module berth.test/kubelet-dial

go 1.22

// The versions kubelet 1.26 builds with (k8s.io/cri-api v0.26.0 requires grpc
// 1.49.0). grpc-go 1.49 sends the dial target, the socket path, as :authority
// unencoded; 1.58 already %-encodes it.
require (
	google.golang.org/grpc v1.49.0
	google.golang.org/protobuf v1.28.1
	k8s.io/cri-api v0.26.0
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.2 // indirect
	golang.org/x/net v0.3.1-0.20221206200815-1e63c2f08a10 // indirect
	golang.org/x/sys v0.3.0 // indirect
	golang.org/x/text v0.5.0 // indirect
	google.golang.org/genproto v0.0.0-20220502173005-c8bf987b8c21 // indirect
)
