package agent

import (
	"context"
	"errors"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcServer adapts a Service to the generated gRPC interface: decoding and
// error mapping only.
type grpcServer struct {
	agentv1.UnimplementedAgentServiceServer
	svc *Service
}

// NewGRPCServer returns the gRPC implementation of api/agent/v1 over svc.
func NewGRPCServer(svc *Service) agentv1.AgentServiceServer {
	return &grpcServer{svc: svc}
}

// statusOf maps a service error to a gRPC status with the error's message.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, ErrImageNotFound), errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrNotManaged):
		code = codes.PermissionDenied
	case errors.Is(err, ErrWorkerExited):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrReadinessTimeout), errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, ErrCapacity):
		code = codes.ResourceExhausted
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// EnsureContainer serves the RPC of that name.
func (g *grpcServer) EnsureContainer(ctx context.Context, r *agentv1.EnsureContainerRequest) (*agentv1.EnsureContainerResponse, error) {
	w, err := g.svc.Ensure(ctx, EnsureRequest{
		Function: r.GetFunction(),
		Project:  r.GetProject(),
		Image:    r.GetImage(),
		Env:      r.GetEnv(),
		MemoryMB: int(r.GetMemoryMb()),
		TmpMB:    int(r.GetTmpMb()),
		Labels:   r.GetLabels(),
		Command:  r.GetCommand(),
	})
	if err != nil {
		return nil, statusOf(err)
	}
	return &agentv1.EnsureContainerResponse{Worker: &agentv1.WorkerInfo{
		Id: w.ID, Name: w.Name, Ip: w.IP, Port: int32(w.Port), Function: w.Function,
	}}, nil
}

// DestroyContainer serves the RPC of that name.
func (g *grpcServer) DestroyContainer(ctx context.Context, r *agentv1.DestroyContainerRequest) (*agentv1.DestroyContainerResponse, error) {
	if err := g.svc.Destroy(ctx, r.GetId()); err != nil {
		return nil, statusOf(err)
	}
	return &agentv1.DestroyContainerResponse{}, nil
}

// ListContainers serves the RPC of that name.
func (g *grpcServer) ListContainers(ctx context.Context, r *agentv1.ListContainersRequest) (*agentv1.ListContainersResponse, error) {
	cs, err := g.svc.List(ctx, Filter{Function: r.GetFunction(), Project: r.GetProject()})
	if err != nil {
		return nil, statusOf(err)
	}
	out := make([]*agentv1.ContainerSummary, len(cs))
	for i, c := range cs {
		out[i] = &agentv1.ContainerSummary{
			Id:           c.ID,
			Name:         c.Name,
			Function:     c.Function,
			Project:      c.Project,
			Status:       c.State,
			CreatedAtMs:  c.CreatedAt.UnixMilli(),
			LastUsedAtMs: c.LastUsedAt.UnixMilli(),
			Ip:           c.IP,
			Port:         int32(c.Port),
			Labels:       c.Labels,
			Image:        c.Image,
		}
	}
	return &agentv1.ListContainersResponse{Containers: out}, nil
}

// PauseContainer serves the RPC of that name.
func (g *grpcServer) PauseContainer(ctx context.Context, r *agentv1.PauseContainerRequest) (*agentv1.PauseContainerResponse, error) {
	if err := g.svc.Pause(ctx, r.GetId()); err != nil {
		return nil, statusOf(err)
	}
	return &agentv1.PauseContainerResponse{}, nil
}

// ResumeContainer serves the RPC of that name.
func (g *grpcServer) ResumeContainer(ctx context.Context, r *agentv1.ResumeContainerRequest) (*agentv1.ResumeContainerResponse, error) {
	if err := g.svc.Resume(ctx, r.GetId()); err != nil {
		return nil, statusOf(err)
	}
	return &agentv1.ResumeContainerResponse{}, nil
}

// GetContainerMetrics serves the RPC of that name.
func (g *grpcServer) GetContainerMetrics(ctx context.Context, r *agentv1.GetContainerMetricsRequest) (*agentv1.GetContainerMetricsResponse, error) {
	ms, err := g.svc.Metrics(ctx, r.GetId())
	if err != nil {
		return nil, statusOf(err)
	}
	out := make([]*agentv1.ContainerMetrics, len(ms))
	for i, m := range ms {
		out[i] = &agentv1.ContainerMetrics{
			Id:                 m.ID,
			Function:           m.Function,
			State:              m.State,
			MemoryCurrentBytes: m.MemoryCurrentBytes,
			MemoryMaxBytes:     m.MemoryMaxBytes,
			OomEvents:          m.OOMEvents,
			CpuUsageNs:         m.CPUUsageNs,
			ExitCode:           int32(m.ExitCode),
			Restarts:           int32(m.Restarts),
		}
	}
	return &agentv1.GetContainerMetricsResponse{Metrics: out}, nil
}

// Health serves the RPC of that name.
func (g *grpcServer) Health(ctx context.Context, _ *agentv1.HealthRequest) (*agentv1.HealthResponse, error) {
	if err := g.svc.Health(ctx); err != nil {
		return &agentv1.HealthResponse{Serving: false, Message: err.Error()}, nil
	}
	return &agentv1.HealthResponse{Serving: true}, nil
}

// Info serves the RPC of that name.
func (g *grpcServer) Info(ctx context.Context, _ *agentv1.InfoRequest) (*agentv1.InfoResponse, error) {
	in, err := g.svc.Info(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &agentv1.InfoResponse{
		Mode:             in.Mode,
		Version:          in.Version,
		RuntimeVersion:   in.RuntimeVersion,
		CapacityMemoryMb: in.CapacityMemoryMB,
		Containers:       int32(in.Containers),
		NodeName:         in.NodeName,
	}, nil
}
