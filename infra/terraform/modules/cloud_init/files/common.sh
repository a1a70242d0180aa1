# Shared steps of every node's bootstrap (sourced by /usr/local/sbin/bunri-bootstrap).

export DEBIAN_FRONTEND=noninteractive

apt_install() {
  # --force-confold: keep configuration files cloud-init wrote before the package arrived.
  apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# A system account with a fixed id, created before its package: files on a state volume keep
# their owner when a replacement instance mounts the volume.
ensure_system_user() {
  local name="$1" id="$2" home="$3" shell="${4:-/usr/sbin/nologin}"
  getent group "$name" >/dev/null || groupadd --system --gid "$id" "$name"
  id -u "$name" >/dev/null 2>&1 ||
    useradd --system --uid "$id" --gid "$name" --home-dir "$home" --no-create-home --shell "$shell" "$name"
}

# Mount the node's state volume (the EBS disk besides the root disk) on $1, formatting it only if
# it is blank, then bind-mount each SUBDIR:TARGET argument onto TARGET. After an instance
# replacement the same volume comes back with the queues or the database on it.
mount_state_volume() {
  local mount_point="$1" root_disk state_disk="" pair
  shift
  root_disk=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)")
  for _ in $(seq 150); do
    state_disk=$(lsblk -dno NAME,TYPE | awk -v root="$root_disk" '$2 == "disk" && $1 != root { print $1; exit }')
    [ -n "$state_disk" ] && break
    sleep 2
  done
  if [ -z "$state_disk" ]; then
    echo "no state volume attached after 5 minutes" >&2
    return 1
  fi
  blkid "/dev/$state_disk" >/dev/null || mkfs.ext4 -q -L bunri-state "/dev/$state_disk"
  mkdir -p "$mount_point"
  grep -q '^LABEL=bunri-state ' /etc/fstab ||
    echo "LABEL=bunri-state $mount_point ext4 defaults,noatime,nofail 0 2" >>/etc/fstab
  mountpoint -q "$mount_point" || mount "$mount_point"
  for pair in "$@"; do
    local source="$mount_point/${pair%%:*}" target="${pair#*:}"
    mkdir -p "$source" "$target"
    grep -q " $target none bind" /etc/fstab ||
      echo "$source $target none bind,nofail,x-systemd.requires-mounts-for=$mount_point 0 0" >>/etc/fstab
    mountpoint -q "$target" || mount "$target"
  done
}

# Services log to the journal under a bunri-* identifier; rsyslog copies those lines to
# /var/log/bunri/bunri.log (rotated daily), which the CloudWatch agent ships with the role's other logs.
install_cloudwatch_agent() {
  local region="$1" config="$2"
  install -d -o syslog -g adm -m 0755 /var/log/bunri
  systemctl restart rsyslog
  curl -fsSL --retry 5 -o /tmp/amazon-cloudwatch-agent.deb \
    "https://amazoncloudwatch-agent-$region.s3.$region.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"
  dpkg -i -E /tmp/amazon-cloudwatch-agent.deb
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c "file:$config"
}

# Settings from SSM Parameter Store into /etc/bunri/bunri.env (see fetch_env.py); the service
# retries until the parameters can be read.
load_settings() {
  systemctl daemon-reload
  systemctl enable bunri-env.service
  until systemctl start bunri-env.service; do sleep 15; done
  # Never trace the secrets: cloud-init's output log is shipped to CloudWatch.
  local xtrace
  xtrace=$(set +o | grep xtrace)
  set +x
  set -a
  # shellcheck disable=SC1091
  . /etc/bunri/bunri.env
  set +a
  eval "$xtrace"
}
