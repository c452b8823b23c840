#!/usr/bin/env bash
# First boot of a shop instance, run as root by the instance's UserData (deploy/cloudformation/shop.yaml)
# from the repository it has just cloned. Everything an instance needs that CloudFormation knows about:
# packages, the app user, nginx, logrotate, the systemd units, the CloudWatch agent and
# /etc/jewelry/jewelry.env. What it cannot know stays for deploy/README.md step 5: the access key
# (/etc/jewelry/aws.env) and the database endpoint. Safe to run again: nothing that exists is overwritten.
#
# Inputs (environment): SHOP_DOMAIN, AWS_REGION, LOG_GROUP, the secrets' ARNs (DB_PASSWORD_SECRET_ARN,
# APP_CONFIG_SECRET_ARN, STACK_SECRETS_SECRET_ARN, OPERATOR_CONFIG_SECRET_ARN) and the stack's values that are
# not secret (MEDIA_BUCKET, CLOUDFRONT_DOMAIN, COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, COGNITO_DOMAIN, FROM_EMAIL).
# JEWELRY_BOOTSTRAP_ROOT (tests only) prefixes every path written, so a rehearsal touches no real /etc.
set -euo pipefail

: "${SHOP_DOMAIN:?}" "${AWS_REGION:?}" "${LOG_GROUP:?}" "${DB_PASSWORD_SECRET_ARN:?}" "${APP_CONFIG_SECRET_ARN:?}" "${STACK_SECRETS_SECRET_ARN:?}" "${OPERATOR_CONFIG_SECRET_ARN:?}" "${MEDIA_BUCKET:?}" "${CLOUDFRONT_DOMAIN:?}" "${COGNITO_USER_POOL_ID:?}" "${COGNITO_CLIENT_ID:?}" "${COGNITO_DOMAIN:?}" "${FROM_EMAIL:?}"
# FROM_EMAIL goes into the env file in double quotes, which bash (check-live.sh) and systemd both read.
case $FROM_EMAIL in *[\"\\\$\`]*) echo "bootstrap: FROM_EMAIL must not contain a quote, backslash, \$ or backtick" >&2; exit 1 ;; esac
R=${JEWELRY_BOOTSTRAP_ROOT:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "bootstrap: $*"; }

say "packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  ca-certificates curl git make nginx python3-venv postgresql-client-15 logrotate unattended-upgrades \
  awscli jq

say "security updates, unattended"
# Debian-Security only, every day; never a reboot by itself: a kernel or libc update waits for a
# person, who reboots one instance at a time (deploy/runbooks/deploy-and-rollback.md). #clear drops
# the stable point-release origins of Debian's own 50unattended-upgrades (read before this file).
install -d -m 0755 "$R/etc/apt/apt.conf.d"
cat >"$R/etc/apt/apt.conf.d/20auto-upgrades" <<'EOF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
EOF
cat >"$R/etc/apt/apt.conf.d/52jewelry-unattended-upgrades" <<'EOF'
// Written by deploy/bootstrap-instance.sh: security updates only, no automatic reboot.
#clear Unattended-Upgrade::Origins-Pattern;
Unattended-Upgrade::Origins-Pattern {
  "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
  "origin=Debian,codename=${distro_codename},label=Debian-Security";
};
Unattended-Upgrade::Automatic-Reboot "false";
Unattended-Upgrade::Remove-Unused-Kernel-Packages "true";
EOF

say "app user and folders"
id jewelry >/dev/null 2>&1 || useradd --system --create-home --home-dir /srv/jewelry --shell /usr/sbin/nologin jewelry
install -d -m 0750 "$R/etc/jewelry"
chown root:jewelry "$R/etc/jewelry"
install -d -m 0750 "$R/var/log/jewelry"
chown jewelry:jewelry "$R/var/log/jewelry"

say "/etc/jewelry/jewelry.env"
env_file="$R/etc/jewelry/jewelry.env"
if [ ! -e "$env_file" ]; then
  umask 027
  cat >"$env_file" <<EOF
# Written at first boot by deploy/bootstrap-instance.sh from the CloudFormation stack. Not secret:
# secrets stay in Secrets Manager and only their ARNs are here. A key set in a secret wins over this
# file (jewelry_site/secrets_manager.py): change a value for every instance in operator-config.
DJANGO_SETTINGS_MODULE=jewelry_site.settings.prod
DJANGO_DB_PASSWORD_SECRET_ID=$DB_PASSWORD_SECRET_ARN
DJANGO_APP_CONFIG_SECRET_ID=$APP_CONFIG_SECRET_ARN
DJANGO_STACK_SECRETS_SECRET_ID=$STACK_SECRETS_SECRET_ARN
DJANGO_OPERATOR_CONFIG_SECRET_ID=$OPERATOR_CONFIG_SECRET_ARN
DJANGO_ALLOWED_HOSTS=$SHOP_DOMAIN
DJANGO_SHOP_SITE_URL=https://$SHOP_DOMAIN
DJANGO_AWS_STORAGE_BUCKET_NAME=$MEDIA_BUCKET
DJANGO_AWS_S3_REGION_NAME=$AWS_REGION
DJANGO_CLOUDFRONT_DOMAIN=$CLOUDFRONT_DOMAIN
DJANGO_COGNITO_REGION=$AWS_REGION
DJANGO_COGNITO_USER_POOL_ID=$COGNITO_USER_POOL_ID
DJANGO_COGNITO_CLIENT_ID=$COGNITO_CLIENT_ID
DJANGO_COGNITO_DOMAIN=$COGNITO_DOMAIN
DJANGO_DEFAULT_FROM_EMAIL="$FROM_EMAIL"
DJANGO_EMAIL_HOST=email-smtp.$AWS_REGION.amazonaws.com
# TLS to the database, verified against Amazon's RDS CA bundle (sslmode verify-full: jewelry_site/db_tls.py).
DJANGO_DB_SSLROOTCERT=/etc/jewelry/rds-ca-bundle.pem
# CloudFront, the load balancer and nginx (jewelry_site/client_address.py).
DJANGO_TRUSTED_PROXY_HOPS=3
AWS_REGION=$AWS_REGION
# DJANGO_DATABASE_URL=postgres://<endpoint>:5432/shop is added by deploy/README.md step 5.
EOF
  umask 022
  chown root:jewelry "$env_file"
fi

say "database CA bundle"
# Amazon's RDS bundle (Lightsail's managed databases are RDS underneath); run again to refresh it.
if [ ! -s "$R/etc/jewelry/rds-ca-bundle.pem" ]; then
  curl -fsSL --retry 3 --max-time 120 -o "$R/etc/jewelry/rds-ca-bundle.pem" \
    https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
fi

say "nginx"
install -m 0644 "$REPO/deploy/jewelry_proxy.conf" "$R/etc/nginx/jewelry_proxy.conf"
sed "s/shop\.example\.com/$SHOP_DOMAIN/g" "$REPO/deploy/nginx.conf" >"$R/etc/nginx/sites-available/jewelry"
ln -sfn /etc/nginx/sites-available/jewelry "$R/etc/nginx/sites-enabled/jewelry"
rm -f "$R/etc/nginx/sites-enabled/default"
nginx -t
systemctl reload-or-restart nginx

say "logrotate"
install -m 0644 "$REPO/deploy/logrotate.conf" "$R/etc/logrotate.d/jewelry"

say "systemd units"
units=()
for unit in "$REPO"/deploy/*.service "$REPO"/deploy/*.socket "$REPO"/deploy/*.timer; do
  [ -e "$unit" ] || continue
  install -m 0644 "$unit" "$R/etc/systemd/system/"
  units+=("$(basename "$unit")")
done
systemctl daemon-reload
# Enabled, not started: the app needs its access key and a release first (README steps 5 and 6).
for unit in jewelry.socket jewelry.service; do
  if printf '%s\n' "${units[@]}" | grep -qx "$unit"; then systemctl enable "$unit"; fi
done

say "CloudWatch agent"
agent=/opt/aws/amazon-cloudwatch-agent
if [ ! -x "$R$agent/bin/amazon-cloudwatch-agent-ctl" ]; then
  arch=$(dpkg --print-architecture)
  curl -fsSL --retry 3 --max-time 300 -o /tmp/amazon-cloudwatch-agent.deb \
    "https://amazoncloudwatch-agent.s3.amazonaws.com/debian/$arch/latest/amazon-cloudwatch-agent.deb"
  dpkg -i /tmp/amazon-cloudwatch-agent.deb
fi
install -d -m 0755 "$R$agent/etc"
# This stack's log group and region in place of the repository's defaults.
sed -e "s|\"/aurelia/app\"|\"$LOG_GROUP\"|" -e "s|\"eu-west-2\"|\"$AWS_REGION\"|" \
  "$REPO/deploy/amazon-cloudwatch-agent.json" >"$R$agent/etc/jewelry.json"
# The agent reads the app's access key from a root-only file written in README step 5.
cat >"$R$agent/etc/common-config.toml" <<'EOF'
[credentials]
  shared_credential_profile = "AmazonCloudWatchAgent"
  shared_credential_file = "/etc/jewelry/aws-credentials"
EOF
"$R$agent/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m onPremise -c "file:$agent/etc/jewelry.json"

say "done: now deploy/README.md step 5 (access key, database endpoint), then deploy/release.sh"
