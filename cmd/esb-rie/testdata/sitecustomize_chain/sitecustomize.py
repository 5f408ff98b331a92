import os
os.environ["ESB_CHAINED_SITECUSTOMIZE"] = "ran"
