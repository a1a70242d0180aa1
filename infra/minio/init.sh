#!/bin/sh
# docker-compose's minio-init (a one-shot job on the mc image): the bucket scan images and profile
# photos go to, and the platform's own account, allowed that bucket only (bunri-scans-policy.json:
# read, write, delete and list, what the APIs and the storage worker call); the root keys stay
# with MinIO and this job. Idempotent: it runs again on every `docker compose up`.
set -eu

mc alias set bunri http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "bunri/$BUCKET"
mc admin policy create bunri bunri-scans /init/bunri-scans-policy.json
mc admin user add bunri "$APP_ACCESS_KEY" "$APP_SECRET_KEY"
# Attaching a policy that is already attached is an error: accept it when the account has it.
if ! mc admin policy attach bunri bunri-scans --user "$APP_ACCESS_KEY"; then
    mc admin user info bunri "$APP_ACCESS_KEY" | grep -q 'bunri-scans'
fi
echo "bucket $BUCKET ready for $APP_ACCESS_KEY"
