//go:build !linux

package realserver

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
)

// Run reports that realserver preparation is not implemented on this GOOS.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return fmt.Errorf("realserver: not implemented on %s", runtime.GOOS)
}
