//go:build !unix

package fastcgi

import "math"

// openFileLimit has no meaningful value here.
func openFileLimit() int { return math.MaxInt32 }
