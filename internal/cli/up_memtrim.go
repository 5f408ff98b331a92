package cli

import (
	"context"
	"log/slog"

	"github.com/edgeserverlessbox/esb/internal/memtrim"
)

// releaseStartupPages is what every daemon calls once ready (contracts.md):
// the executable pages only start-up touched leave its resident set, and
// from then on, each time the daemon goes idle after a burst (requests, a
// scale-down), the heap it freed and the pages the burst touched are handed
// back too, until ctx ends.
func releaseStartupPages(ctx context.Context, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n, err := memtrim.Release()
	if err != nil {
		logger.Debug("release start-up pages", "err", err)
		return
	}
	logger.Debug("released start-up pages", "bytes", n)
	go memtrim.TrimWhenIdle(ctx, memtrim.IdleConfig{OnTrim: func(n int64, err error) {
		if err != nil {
			logger.Debug("release pages when idle", "err", err)
			return
		}
		logger.Debug("released pages when idle", "bytes", n)
	}})
}
