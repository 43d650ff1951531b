module switchyard/examples/go

go 1.19
