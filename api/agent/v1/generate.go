// Package agentv1 holds the agent's gRPC API, generated from agent.proto.
package agentv1

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative agent.proto
