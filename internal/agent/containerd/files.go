package containerd

import (
	"bytes"
	"net"
	"strings"
)

// resolvConf derives the workers' resolv.conf from the host's: loopback
// name servers (a local stub resolver) are unreachable from a worker's
// network namespace and are dropped; search and options lines are kept.
func resolvConf(host []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# written by esb agent\n")
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				continue
			}
			if ip := net.ParseIP(f[1]); ip == nil || ip.IsLoopback() {
				continue
			}
		case "search", "domain", "options":
		default:
			continue
		}
		b.WriteString(strings.Join(f, " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}
