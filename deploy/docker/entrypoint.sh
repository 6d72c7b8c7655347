#!/bin/sh
# The modelserve image's entrypoint, following the tensorflow/serving image's conventions:
#
#   docker run -p 8500:8500 -p 8501:8501 -v "$PWD/models/half_plus_two:/models/half_plus_two" \
#       -e MODEL_NAME=half_plus_two IMAGE [extra flags...]
#
# runs, in place of this shell (exec: SIGTERM reaches the server, which drains and exits 0):
#
#   modelserve serve --port=$MODELSERVE_GRPC_PORT --rest_api_port=$MODELSERVE_REST_API_PORT \
#       --model_name=$MODEL_NAME --model_base_path=$MODEL_BASE_PATH/$MODEL_NAME [extra flags...]
#
# | variable                 | default  | becomes                                         |
# | MODEL_NAME               | model    | --model_name                                    |
# | MODEL_BASE_PATH          | /models  | --model_base_path=$MODEL_BASE_PATH/$MODEL_NAME  |
# | MODELSERVE_GRPC_PORT     | 8500     | --port (0 turns gRPC off)                       |
# | MODELSERVE_REST_API_PORT | 8501     | --rest_api_port (the HEALTHCHECK probes it too) |
#
# MODEL_BASE_PATH may be s3://bucket/prefix or gs://bucket/prefix (trailing slashes are dropped).
# Extra flags come last, so they win: argparse keeps the last value of a repeated flag
# (`--rest_api_port=9000`). `--model_config_file` or `--model_repository` take precedence over the
# name and base path, as in TF Serving. Every other variable the server reads passes through unchanged
# (MODELSERVE_ADMIN_TOKEN, MODELSERVE_API_KEYS_FILE, MODELSERVE_REMOTE_CACHE_DIR, AWS_*,
# GOOGLE_APPLICATION_CREDENTIALS, ...).
#
# A first argument that is not a flag is a command, run as given:
#   docker run IMAGE modelserve inspect /models/half_plus_two/00000123
#
# MODELSERVE_DRY_RUN=1 prints the command line, one argument per line, instead of running it.
# `modelserve` is found on PATH (/opt/modelserve/bin in the image).
set -eu

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec "$@"
fi

model_name="${MODEL_NAME:-model}"
base_path="${MODEL_BASE_PATH:-/models}"
while [ "${base_path%/}" != "$base_path" ]; do
    base_path="${base_path%/}"
done

set -- serve \
    "--port=${MODELSERVE_GRPC_PORT:-8500}" \
    "--rest_api_port=${MODELSERVE_REST_API_PORT:-8501}" \
    "--model_name=${model_name}" \
    "--model_base_path=${base_path}/${model_name}" \
    "$@"

if [ -n "${MODELSERVE_DRY_RUN:-}" ]; then
    printf '%s\n' modelserve "$@"
    exit 0
fi
exec modelserve "$@"
