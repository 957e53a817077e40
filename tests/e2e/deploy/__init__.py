"""The deployment files hold together: a module per file (compose, its cluster overlay, the
example .env, the Dockerfile, the gateway, gunicorn's config, the PostgreSQL init script), one for
the Procfile and one for the page that documents them. Nothing here needs a Docker daemon."""
