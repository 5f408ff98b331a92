"""pyfail: prints, logs with logging, and raises when asked to."""

import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    n = event.get("n", 0)
    print(f"pyfail printing n={n}")
    logger.info("pyfail info n=%s", n)
    logger.warning("pyfail warning n=%s", n)
    if event.get("fail"):
        raise ValueError(f"pyfail failed n={n}")
    return {"n": n}
