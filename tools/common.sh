# Shared by the tools/ scripts: where PostgreSQL lives and how to run a throwaway cluster.
# Sourced, not executed.

PG_CONFIG=${PG_CONFIG:-pg_config}

# The newest installed server decides the major version, so nothing here hard-codes 15.
pg_major() {
	local v
	v=$(ls -1 /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1)
	if [[ -z $v ]]; then
		echo "no PostgreSQL server found under /usr/lib/postgresql" >&2
		return 1
	fi
	echo "$v"
}

pg_bindir() {
	"$PG_CONFIG" --bindir
}

# True when the server already has exactly the files this tree builds, so an ordinary user without
# write access to the server's folders can still test what root installed.
installed_current() {
	local ext
	ext="$("$PG_CONFIG" --sharedir)/extension"
	cmp -s health_score.so "$("$PG_CONFIG" --pkglibdir)/health_score.so" &&
		cmp -s health_score.control "$ext/health_score.control" &&
		for f in health_score--*.sql; do cmp -s "$f" "$ext/$f" || return 1; done
}

# Installs missing packages, builds, and installs the extension unless the server already has this build.
build_and_install() {
	tools/deps.sh || return 1
	make -s all >/dev/null || return 1
	installed_current && return 0
	if [[ $(id -u) -ne 0 ]] && [[ ! -w $("$PG_CONFIG" --pkglibdir) ]]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo -n make -s install >/dev/null
			return
		fi
		echo "cannot install into $("$PG_CONFIG" --pkglibdir): run 'sudo make install' first" >&2
		return 1
	fi
	make -s install >/dev/null
}

# PostgreSQL refuses to run as root, so as root the server runs as this OS user.
HS_SERVER_USER=${HS_SERVER_USER:-postgres}

as_server_user() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$HS_SERVER_USER" -- "$@"
	else
		"$@"
	fi
}

# cluster_start DIR PORT [extra postgresql.conf lines...]
# A private cluster: its socket lives in DIR and it listens on no TCP address, so clusters in
# different folders never collide whatever port they use.
cluster_start() {
	local dir=$1 port=$2
	shift 2
	local bindir
	bindir=$(pg_bindir)
	mkdir -p "$dir"
	[[ $(id -u) -eq 0 ]] && chown "$HS_SERVER_USER" "$dir"
	as_server_user "$bindir/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	{
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "shared_preload_libraries = 'pg_cron'"
		echo "cron.use_background_workers = on"
		echo "max_worker_processes = 16"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		echo "timezone = 'UTC'"
		echo "log_min_messages = warning"
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	as_server_user "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
		--timeout=120 start >/dev/null ||
		{ cat "$dir/server.log" >&2; return 1; }
}

cluster_stop() {
	local dir=$1
	[[ -f $dir/data/postmaster.pid ]] || return 0
	as_server_user "$(pg_bindir)/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
}

# Point libpq (psql, pg_regress, pg_prove) at a cluster started by cluster_start.
cluster_env() {
	export PGHOST=$1 PGPORT=$2 PGUSER=postgres PGDATABASE=postgres
}
