package cli

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

// capNetBindService is CAP_NET_BIND_SERVICE: bind ports below 1024.
const capNetBindService = 10

// gatewayUser is the unprivileged identity the gateway runs as.
type gatewayUser struct {
	name     string
	uid, gid int
}

// lookupGatewayUser returns the user the gateway runs as when esb up runs as
// root (ESB_GATEWAY_USER, default "esb"), creating the default system user
// when it is missing. nil means the gateway keeps esb up's own user: esb up
// does not run as root, or ESB_GATEWAY_USER=root.
func lookupGatewayUser(s upSettings, create bool) (*gatewayUser, error) {
	if os.Geteuid() != 0 || s.gatewayUser == "root" || s.gatewayUser == "0" {
		return nil, nil
	}
	u, err := user.Lookup(s.gatewayUser)
	if err != nil && create && s.gatewayUser == "esb" {
		out, cerr := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "esb gateway", "esb").CombinedOutput()
		if cerr != nil {
			return nil, fmt.Errorf("create the system user esb for the gateway: %v: %s (create it by hand, or set ESB_GATEWAY_USER to an existing unprivileged user)", cerr, strings.TrimSpace(string(out)))
		}
		u, err = user.Lookup(s.gatewayUser)
	}
	if err != nil {
		return nil, fmt.Errorf("ESB_GATEWAY_USER=%s: %v (the gateway runs as this unprivileged user when esb up runs as root; create it, or set ESB_GATEWAY_USER=root to keep root)", s.gatewayUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		return nil, nil
	}
	return &gatewayUser{name: u.Username, uid: uid, gid: gid}, nil
}

// dropGatewayPrivileges makes the gateway run as gu with only
// CAP_NET_BIND_SERVICE (for :443). The gateway reaches what it needs through
// directories esb up opens for it and passes as inherited descriptors, so no
// directory above the project (often /root, mode 0700) has to be opened up:
//
//	fd 3  the esb executable      (exec'd as /proc/self/fd/3)
//	fd 4  functions.yml's directory (read)
//	fd 5  routing.yml's directory   (read)
//	fd 6  state/run: the agent socket, handed to the user once the agent listens
//	fd 7  state/certs               (owned by the user: it renews its certificate)
//	fd 8  state/data/gateway-async  (owned by the user: the Event queue)
//	fd 9  state/logs                (group-writable for the user)
//
// It returns the function the agent runs once ready (chown of its socket).
func dropGatewayPrivileges(gw *supervisor.Service, env map[string]string, l supervisor.Layout, gu *gatewayUser, functionsPath, routingPath string) func() {
	const fdPath = "/proc/self/fd/"
	fd := func(n int, name string) string {
		if name == "" {
			return fdPath + strconv.Itoa(n)
		}
		return fdPath + strconv.Itoa(n) + "/" + name
	}
	exe := gw.Path
	async := l.DataDir("gateway-async")
	dirs := []string{filepath.Dir(functionsPath), filepath.Dir(routingPath), l.Run(), l.Certs(), async, l.Logs()}
	env["FUNCTIONS_CONFIG_PATH"] = fd(4, filepath.Base(functionsPath))
	env["ROUTING_CONFIG_PATH"] = fd(5, filepath.Base(routingPath))
	env["AGENT_GRPC_ADDRESS"] = "unix://" + fd(6, filepath.Base(l.AgentSocket()))
	env["ESB_CERT_DIR"] = fd(7, "")
	env["ASYNC_SPOOL_DIR"] = fd(8, "")
	env["ESB_LOG_DIR"] = fd(9, "")
	env["HOME"] = "/nonexistent"
	env["USER"] = gu.name
	gw.Path, gw.Argv0 = fd(3, ""), exe
	gw.Credential = &syscall.Credential{Uid: uint32(gu.uid), Gid: uint32(gu.gid), Groups: []uint32{}}
	gw.AmbientCaps = []uintptr{capNetBindService}
	gw.Prepare = func() error {
		// The run directory is searchable (not listable) by others; every file
		// in it keeps its own mode (sockets and locks 0600).
		if err := os.Chmod(l.Run(), 0o711); err != nil {
			return err
		}
		if err := os.MkdirAll(async, 0o700); err != nil {
			return err
		}
		for _, d := range []string{l.Certs(), async} {
			if err := chownTree(d, gu.uid, gu.gid); err != nil {
				return err
			}
		}
		if err := os.Chown(l.Logs(), 0, gu.gid); err != nil {
			return err
		}
		return os.Chmod(l.Logs(), 0o775)
	}
	gw.Files = func() ([]*os.File, error) {
		var files []*os.File
		open := func(p string, flag int) error {
			f, err := os.OpenFile(p, flag, 0)
			if err != nil {
				for _, f := range files {
					f.Close()
				}
				return err
			}
			files = append(files, f)
			return nil
		}
		if err := open(exe, os.O_RDONLY); err != nil {
			return nil, err
		}
		for _, d := range dirs {
			if err := open(d, os.O_RDONLY|syscall.O_DIRECTORY); err != nil {
				return nil, err
			}
		}
		return files, nil
	}
	return func() {
		_ = os.Chown(l.AgentSocket(), gu.uid, gu.gid)
	}
}

// chownTree hands a directory and everything in it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// canDropTo reports whether the gateway can run from exe as another user: the
// executable must be readable by others, or the kernel makes the process
// non-dumpable and /proc/self/fd unusable to it.
func canDropTo(exe string) bool {
	st, err := os.Stat(exe)
	return err == nil && st.Mode().Perm()&0o005 == 0o005
}
