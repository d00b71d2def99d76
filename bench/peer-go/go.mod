module connectionpool-webhook/bench/peer-go

go 1.22
