//go:build !linux

package main

import (
	"errors"
	"math/rand/v2"
	"time"
)

// runEpoll needs Linux's epoll; elsewhere use -client wire.
func runEpoll(string, int, time.Duration, func(*rand.Rand) request) ([]time.Duration, int64, time.Duration, error) {
	return nil, 0, 0, errors.New("-client epoll needs Linux; use -client wire")
}
