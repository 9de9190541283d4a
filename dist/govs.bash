# bash completion for govs                                 -*- shell-script -*-
#
# Install as /usr/share/bash-completion/completions/govs (loaded on first
# use by bash-completion), or source it from ~/.bashrc. Self-contained: it
# needs nothing from the bash-completion package.
#
# Completes subcommands, ipvsadm options, schedulers after -s, scheduler
# flags after -b, interfaces after -i for run and realserver, help topics,
# and the daemon's services after -t/-u (and a service's realservers after
# -r), read with "govs -S -n"; when no daemon answers, those stay empty and
# nothing is printed.

_govs_subcommands="run realserver bench role reload help"
_govs_schedulers="rr wrr lc wlc sed nq sh mh"
_govs_sched_flags="flag-1 flag-2 flag-3 sh-fallback sh-port mh-fallback mh-port"
_govs_topics="ipvsadm run config reload role realserver bench files"
_govs_ipvsadm_opts="-A -E -D -C -R -S -a -e -d -L -l -Z -h -v
    -t -u -s -p -M -r -g -i -m -w -x -y -c -n -o -b -X
    --add-service --edit-service --delete-service --clear --restore --save
    --add-server --edit-server --delete-server --list --zero --set --help --version
    --tcp-service --udp-service --scheduler --persistent --netmask --real-server
    --gatewaying --ipip --masquerading --tun-type --weight --u-threshold
    --l-threshold --connection --numeric --timeout --stats --rate --exact
    --thresholds --persistent-conn --tun-info --nosort --sort --ops
    --sched-flags --json --socket"
_govs_run_opts="-i --iface --socket --workers --max-conns --role --garp-count
    --garp-interval --tap --log-level --config --check --metrics --takeover --shed -h"
_govs_realserver_opts="-i --iface --vip --tun --tun-name -h"
_govs_bench_opts="--mode --proto --flows --size --rate --cost-rate --duration
    --runs --workers --subjects --dir-cpus --gen-cpu --gen-cpus --udp-timeout --steps --keep-going --json
    --svg -h"

# _govs_reply WORDS: COMPREPLY = the WORDS that start with $cur.
_govs_reply() {
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

_govs_interfaces() {
    local d names=()
    for d in /sys/class/net/*; do
        [[ -e $d ]] && names+=("${d##*/}")
    done
    _govs_reply "${names[*]}"
}

# _govs_rules: the daemon's rules as "govs -S -n" prints them, or nothing.
# The socket comes from --socket on the line being completed, else from
# $GOVS_SOCKET, as for any govs command. Bounded to 2 seconds.
_govs_rules() {
    local i sock=() cmd=("${COMP_WORDS[0]}")
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
        --socket)
            if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                sock=(--socket "${COMP_WORDS[i + 2]}")
            else
                sock=(--socket "${COMP_WORDS[i + 1]}")
            fi
            ;;
        --socket=*) sock=("${COMP_WORDS[i]}") ;;
        esac
    done
    if type -P timeout >/dev/null && [[ $(type -t "${cmd[0]}") == file ]]; then
        cmd=(timeout 2 "${cmd[@]}")
    fi
    "${cmd[@]}" "${sock[@]}" -S -n 2>/dev/null </dev/null
}

# _govs_services FLAG: the addresses of the daemon's services of one
# protocol (FLAG is -t or -u).
_govs_services() {
    local flag=$1 line words out=()
    while read -r line; do
        read -ra words <<<"$line"
        [[ ${words[0]} == -A && ${words[1]} == "$flag" ]] && out+=("${words[2]}")
    done < <(_govs_rules)
    _govs_reply "${out[*]}"
}

# _govs_realservers: the realservers of the service named on the line.
_govs_realservers() {
    local i flag= svc= line words out=()
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
        -t | --tcp-service) flag=-t svc=${COMP_WORDS[i + 1]} ;;
        -u | --udp-service) flag=-u svc=${COMP_WORDS[i + 1]} ;;
        esac
    done
    [[ -n $svc ]] || return 0
    while read -r line; do
        read -ra words <<<"$line"
        [[ ${words[0]} == -a && ${words[1]} == "$flag" && ${words[2]} == "$svc" && ${words[3]} == -r ]] &&
            out+=("${words[4]}")
    done < <(_govs_rules)
    _govs_reply "${out[*]}"
}

_govs_files() {
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$cur"))
}

_govs() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    # "--opt=value" arrives as "--opt" "=" "value" (= is a word break).
    if [[ $cur == = ]]; then
        cur= prev=${COMP_WORDS[COMP_CWORD - 1]}
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi
    COMPREPLY=()

    local sub=
    if ((COMP_CWORD > 1)); then
        case " $_govs_subcommands " in
        *" ${COMP_WORDS[1]} "*) sub=${COMP_WORDS[1]} ;;
        esac
    fi

    if ((COMP_CWORD == 1)) && [[ $cur != -* ]]; then
        _govs_reply "$_govs_subcommands"
        return 0
    fi

    case $sub in
    run)
        case $prev in
        -i | --iface | -iface) _govs_interfaces ;;
        --role | -role) _govs_reply "master backup" ;;
        --log-level | -log-level) _govs_reply "debug info warn error" ;;
        --shed | -shed) _govs_reply "xdp off" ;;
        --config | -config | --socket | -socket) _govs_files ;;
        --workers | --max-conns | --garp-count | --garp-interval | --metrics | --tap) ;;
        *) _govs_reply "$_govs_run_opts" ;;
        esac
        ;;
    realserver)
        case $prev in
        -i | --iface | -iface) _govs_interfaces ;;
        --vip | -vip | --tun-name | -tun-name) ;;
        *) _govs_reply "$_govs_realserver_opts" ;;
        esac
        ;;
    bench)
        case $prev in
        --mode) _govs_reply "dr tun masq local" ;;
        --proto) _govs_reply "udp tcp syn udp-new" ;;
        --rate) _govs_reply "max" ;;
        --subjects) _govs_reply "govs nft-dnat kernel-fwd afpacket-bare" ;;
        --svg) _govs_files ;;
        --flows | --size | --duration | --runs | --workers | --dir-cpus | --gen-cpu | --gen-cpus | --udp-timeout | --steps | --cost-rate) ;;
        *) _govs_reply "$_govs_bench_opts" ;;
        esac
        ;;
    role)
        case $prev in
        --socket | -socket) _govs_files ;;
        *)
            if [[ $cur == -* ]]; then
                _govs_reply "--socket -h"
            else
                _govs_reply "master backup"
            fi
            ;;
        esac
        ;;
    help)
        ((COMP_CWORD == 2)) && _govs_reply "$_govs_topics"
        ;;
    reload)
        case $prev in
        --socket) _govs_files ;;
        *) [[ $cur == -* ]] && _govs_reply "--socket" ;;
        esac
        ;;
    *) # the ipvsadm command line
        case $prev in
        -s | --scheduler) _govs_reply "$_govs_schedulers" ;;
        -b | --sched-flags) _govs_reply "$_govs_sched_flags" ;;
        -t | --tcp-service) _govs_services -t ;;
        -u | --udp-service) _govs_services -u ;;
        -r | --real-server) _govs_realservers ;;
        --tun-type) _govs_reply "ipip" ;;
        --socket) _govs_files ;;
        -M | --netmask | -w | --weight | -x | --u-threshold | -y | --l-threshold) ;;
        -p | --persistent) [[ $cur == -* ]] && _govs_reply "$_govs_ipvsadm_opts" ;;
        *) _govs_reply "$_govs_ipvsadm_opts" ;;
        esac
        ;;
    esac
    return 0
}

complete -F _govs govs
