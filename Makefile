# gpubill: the two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo test bench up down reset build fmt

demo:            ## bring up Postgres and the broker, run the demo, print the invoices, serve the API
	scripts/demo.sh

test:            ## every check and test, against real Postgres and a real broker
	scripts/test.sh

bench:           ## throughput: raw consume rate of the broker vs the aggregator's rate to the ledger
	scripts/bench.sh

up:              ## start Postgres and the broker only; prints the environment to use
	scripts/up.sh

down:            ## stop what the scripts started (data is kept)
	scripts/down.sh

reset:           ## delete the demo's broker data and ledger database together
	scripts/reset.sh

build:
	cargo build --workspace

fmt:
	cargo fmt --all
