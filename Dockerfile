# The esb control plane as a FROM-scratch image: one static binary, every
# daemon a subcommand (esb gateway | agent | dynamodb | s3). Build bin/esb
# first (make build); docker-compose*.yml build this image.
FROM scratch
COPY bin/esb /usr/local/bin/esb
ENV ESB_STATE_DIR=/var/lib/esb HOME=/var/lib/esb
ENTRYPOINT ["/usr/local/bin/esb"]
