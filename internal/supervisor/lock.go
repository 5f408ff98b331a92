package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Lock is an exclusive advisory lock (flock) on a file. The kernel releases it
// when the holder dies, so a killed `esb up` never leaves a stale lock.
type Lock struct {
	f *os.File
}

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes the lock at path without waiting. On ErrLocked, holder is the
// pid the holder wrote into the file (0 when unknown).
func TryLock(path string) (l *Lock, holder int, err error) {
	return tryLock(path, true)
}

func tryLock(path string, writePID bool) (l *Lock, holder int, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			return nil, pid, ErrLocked
		}
		return nil, 0, fmt.Errorf("lock %s: %w", path, err)
	}
	if writePID {
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, 0, nil
}

// WaitLock takes the lock, waiting up to timeout. waiting is called once,
// with the holder's pid, when the lock is busy.
func WaitLock(ctx context.Context, path string, timeout time.Duration, waiting func(holder int)) (*Lock, error) {
	deadline := time.Now().Add(timeout)
	told := false
	for {
		l, holder, err := TryLock(path)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrLocked) {
			return nil, err
		}
		if !told && waiting != nil {
			waiting(holder)
			told = true
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another esb command (pid %d) still holds %s after %s; wait for it to finish or stop it", holder, path, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Held reports whether some process holds the lock at path (without taking it
// for longer than the check), and that process's pid.
func Held(path string) (bool, int) {
	l, holder, err := tryLock(path, false)
	if err == nil {
		l.Unlock()
		return false, 0
	}
	return errors.Is(err, ErrLocked), holder
}

// Unlock releases the lock. The file stays (removing it would race with a
// process about to lock it).
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
