# mmsniper developer commands. `make help` lists them.
PY ?= .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help setup test lint demo negatives clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup:  ## create .venv and install the whole stack (idempotent; first run builds mmcv, ~15 min)
	bash tools/setup_env.sh

test: setup  ## set up if needed, then lint and run the whole test suite on the CPU
	$(PY) -m ruff check .
	$(PY) -m pytest tests -n 2 --dist worksteal $(PYTEST_ARGS)

demo: setup  ## SNIPER end to end on the CPU (~11 min): data, RPN, proposals, ImageNet MobileNetV2 training, pyramid test -> work_dirs/demo/ (DEMO_ARGS=--help for options)
	$(PY) tools/demo.py $(DEMO_ARGS)

lint:  ## ruff only
	$(PY) -m ruff check .

NEG_RPN_ITERS ?= 200
NEG_ITERS ?= 300
NEG_WORK ?= work_dirs/scaleshapes_rpn
negatives: setup  ## negative chips on ScaleShapes: train RPN -> extract proposals -> SNIPER with negatives
	$(PY) tools/dataset_converters/make_scaleshapes.py --if-missing
	$(PY) tools/train.py configs/scaleshapes/sniper_rpn_r18_scaleshapes.py --work-dir $(NEG_WORK) \
		--cfg-options train_cfg.max_iters=$(NEG_RPN_ITERS) train_cfg.val_interval=$(NEG_RPN_ITERS)
	$(PY) tools/extract_proposals.py configs/scaleshapes/sniper_rpn_r18_scaleshapes.py \
		$$(cat $(NEG_WORK)/last_checkpoint) --out $(NEG_WORK)/proposals_train.npz
	$(PY) tools/train.py configs/scaleshapes/sniper_faster_r18_scaleshapes_neg.py \
		--work-dir work_dirs/scaleshapes_neg --cfg-options train_cfg.max_iters=$(NEG_ITERS) \
		train_cfg.val_interval=$(NEG_ITERS)

clean:  ## remove build outputs (keeps .venv and data)
	rm -rf build dist *.egg-info mmsniper/.mim .pytest_cache .hypothesis
