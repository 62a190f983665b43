package deskie

// Test helpers of this package that the external tests (package deskie_test)
// share.

// SyncBuffer is [syncBuffer]: a log sink safe for concurrent use.
type SyncBuffer = syncBuffer
