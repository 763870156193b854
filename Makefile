# The README's two commands. Everything they do is in tools/setup.sh.
.PHONY: run test
run:
	sh tools/setup.sh run
test:
	sh tools/setup.sh test
