# The two entry points the README leads with. Both install what they need first.
.PHONY: setup demo test test-fast

VENV := .venv/bin
DEMO := build/demo-model

setup:
	@scripts/setup.sh

# Build the tiny demo model, then generate its Android project (Pixel 8) and iOS project (iPhone 15 Pro).
demo: setup
	$(VENV)/sdkgen demo-model $(DEMO) --force
	$(VENV)/sdkgen android --model $(DEMO) --profile pixel8 -o build/android-demo --force
	$(VENV)/sdkgen ios --model $(DEMO) --profile iphone15pro -o build/ios-demo --force

# The full suite, slow end-to-end conversions included (what CI runs).
test: setup
	$(VENV)/python -m pytest

# Locally: everything but the slow end-to-end conversions.
test-fast: setup
	$(VENV)/python -m pytest --skip-slow
