package cli

import (
	"log/slog"

	"github.com/edgeserverlessbox/esb/internal/memtrim"
)

// releaseStartupPages is what every daemon calls once ready (contracts.md):
// the executable pages only start-up touched leave its resident set.
func releaseStartupPages(logger *slog.Logger) {
	n, err := memtrim.Release()
	if err != nil {
		if logger != nil {
			logger.Debug("release start-up pages", "err", err)
		}
		return
	}
	if logger != nil {
		logger.Debug("released start-up pages", "bytes", n)
	}
}
