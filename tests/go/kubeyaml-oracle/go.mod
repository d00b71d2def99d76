module connectionpool-webhook/tests/go/kubeyaml-oracle

go 1.22
