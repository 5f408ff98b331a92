//go:build unix && !linux

package rie

import (
	"errors"
	"syscall"
)

// runtimeProcAttr starts the runtime in its own process group. (esb-rie
// targets Linux; this lets it build and run on other Unix systems for
// development.)
func runtimeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// setChildSubreaper is Linux-only.
func setChildSubreaper() error {
	return errors.New("child subreaper is only available on Linux")
}
