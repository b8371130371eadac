package main

import "github.com/arbiter-dev/arbiter/internal/bench/benchkit"

// wrkResult is what one wrk run measured.
type wrkResult = benchkit.Result
