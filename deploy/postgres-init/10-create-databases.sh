#!/bin/sh
# One database and one owning login role per service (DESIGN §2: no service reads another's
# tables; separate roles make the database enforce it), plus audit's insert-only login role.
#
# The postgres image runs this once, when its data volume is empty, from
# /docker-entrypoint-initdb.d. It must stay executable: the image *sources* a .sh file that is
# not, and `set -eu` or an error would then leak into the image's own entrypoint.
#
#   WHISTLE_DB_PASSWORD            password of intake's, dispatch's and notify's roles (required)
#   WHISTLE_AUDIT_DB_PASSWORD      password of audit's owner (required); its own, so that no other
#                                  service's credentials open the role that may alter the trail
#   WHISTLE_AUDIT_APP_DB_PASSWORD  password of audit's insert-only role (required); its own, so that
#                                  audit's web and worker cannot log in as the owner either
#   WHISTLE_DB_PREFIX    name prefix, default "whistle_" -> whistle_intake, ...; tests pass their
#                        own so they can run this against a shared server and drop what it made
set -eu

: "${WHISTLE_DB_PASSWORD:?set WHISTLE_DB_PASSWORD (deploy/.env)}"
: "${WHISTLE_AUDIT_DB_PASSWORD:?set WHISTLE_AUDIT_DB_PASSWORD (deploy/.env)}"
: "${WHISTLE_AUDIT_APP_DB_PASSWORD:?set WHISTLE_AUDIT_APP_DB_PASSWORD (deploy/.env)}"
prefix="${WHISTLE_DB_PREFIX:-whistle_}"

for service in intake dispatch notify audit; do
    name="${prefix}${service}"
    password="$WHISTLE_DB_PASSWORD"
    [ "$service" = audit ] && password="$WHISTLE_AUDIT_DB_PASSWORD"
    # psql variables (:"name" identifier, :'password' literal) do the quoting.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done

# The insert-only role audit's web and worker connect as (DESIGN §6, docs/audit.md). It is made
# here, by the superuser, so the owner needs no CREATEROLE: after every `whistle migrate all`,
# compose's audit-grant runs `whistle audit grant` as the owner, which finds the role and only
# grants it SELECT and INSERT on the tables. Until then it may connect, and read nothing.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="${prefix}audit_app" -v database="${prefix}audit" -v password="$WHISTLE_AUDIT_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE :"database" TO :"name";
SQL
