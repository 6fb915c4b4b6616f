package pipeabi

// BatchEncoder is what Columns and SharedColumns have in common, for the
// external benchmark to run either.
type BatchEncoder interface {
	Reset(recs []Record)
	AppendBatch(dst []byte, l *Layout) []byte
}

// ForgetHashes clears the hashes the encoder computed and keeps in the
// records, as a new batch from the parser has them.
func ForgetHashes(recs []Record) {
	for i := range recs {
		recs[i].hashed, recs[i].PathHash, recs[i].AgentClassHash = 0, 0, 0
	}
}
