package pipeline

// SetParallelMin changes the batch size from which compiles run in
// parallel, for tests; it returns a function restoring the old value.
func SetParallelMin(n int) func() {
	old := parallelMin
	parallelMin = n
	return func() { parallelMin = old }
}
