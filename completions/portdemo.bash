# bash completion for demo-server and demo-client (portdemo)          -*- shell-script -*-
#
# Installed twice, as bash-completion/completions/demo-server and .../demo-client: bash-completion
# loads the file named after the command being completed, and this one defines both. Without
# bash-completion, `source` it from ~/.bashrc. It uses bash-completion's helpers when they are
# loaded (--opt=value, IPv6 colons, host names from known_hosts) and plain compgen otherwise.

# The service table built into both programs (common/src/services.cpp), name:port, in the
# table's order. tests/unit/completion_test.cpp compares it with service_table(), so the two
# cannot drift apart.
_portdemo_services=(
    ftp-data:20 ftp:21 ssh:22 telnet:23 smtp:25 dns:53 http:80 pop3:110 ntp:123 imap:143
    bgp:179 ldap:389 https:443 smtps:465 submission:587 ldaps:636 imaps:993 pop3s:995
    ms-sql:1433 ms-sql-m:1434 mysql:3306 rdp:3389 postgresql:5432 vnc:5900 redis:6379
    http-alt:8080 https-alt:8443 mongodb:27017
)

# The options of each program, as `--help` lists them (tests/package/test_completion.py checks).
_portdemo_server_options=(
    -h --help --version -p --ports -b --bind --udp --tls --proxy-protocol --quic --cert --key --save-cert --strict
    --max-connections --request-timeout --write-timeout --keep-alive-timeout --shutdown-grace
    --max-line --max-header-bytes --max-header-lines --user --mask-addresses --max-board-subscribers
    -q --quiet --format --color
)
_portdemo_client_options=(
    -h --help --version -n --count -P --parallel --hold -u --udp --verify -t --timeout
    -s --source-port --proxy-protocol --http2 --tls --requests --http3 --rebind --cacert -k --insecure -4 -6
    --format --color
)

# Fills COMPREPLY with ports for the word $1: service names, or the table's port numbers once a
# digit is typed. With $2 = list (--ports, --udp, --tls take 8080,8443,9000-9003), the part
# after the last comma is completed and the rest kept.
_portdemo_ports() {
    local word=$1 prefix="" entry
    local -a candidates=()
    if [[ ${2-} == list && $word == *,* ]]; then
        prefix=${word%,*},
        word=${word##*,}
    fi
    for entry in "${_portdemo_services[@]}"; do
        if [[ $word == [0-9]* ]]; then
            candidates+=("${entry#*:}")
        else
            candidates+=("${entry%%:*}")
        fi
    done
    COMPREPLY=($(compgen -P "$prefix" -W "${candidates[*]}" -- "$word"))
}

# Sets cur, prev, words and cword in the caller: with bash-completion, words split at '=' are
# joined back (--format=js completes js as a format) and ':' does not split IPv6 addresses;
# without it, COMP_WORDS as bash split them, with "--format", "=", "js" read the same way.
_portdemo_words() {
    if declare -F _init_completion >/dev/null; then
        _init_completion -s -n : || return 1
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${words[cword]}
        prev=${words[cword - 1]}
        if [[ $cur == = ]]; then
            cur=""
        elif [[ $prev == = && cword -ge 2 ]]; then
            prev=${words[cword - 2]}
        fi
    fi
    return 0
}

# Values the two programs share. Returns 0 when prev was an option taking a value (COMPREPLY set,
# possibly empty: a number or a duration has nothing to offer), 1 otherwise.
_portdemo_common_values() {
    case $prev in
        --format) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
        --color) COMPREPLY=($(compgen -W "auto always never" -- "$cur")) ;;
        *) return 1 ;;
    esac
    return 0
}

_demo_server() {
    local cur prev words cword split
    _portdemo_words || return
    _portdemo_common_values && return
    case $prev in
        -p | --ports | --udp | --tls | --proxy-protocol)
            _portdemo_ports "$cur" list
            return
            ;;
        --quic)
            # Its value is optional (alone: every TLS port): ports, or the next option.
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "${_portdemo_server_options[*]}" -- "$cur"))
            else
                _portdemo_ports "$cur" list
            fi
            return
            ;;
        -b | --bind)
            COMPREPLY=($(compgen -W "127.0.0.1 ::1 0.0.0.0 ::" -- "$cur"))
            declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
            return
            ;;
        --cert | --key | --save-cert)
            if declare -F _filedir >/dev/null; then
                _filedir
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return
            ;;
        --user)
            COMPREPLY=($(compgen -u -- "$cur"))
            return
            ;;
        --max-connections | --request-timeout | --write-timeout | --keep-alive-timeout | \
            --shutdown-grace | --max-line | --max-header-bytes | --max-header-lines | --max-board-subscribers)
            return # a number or a duration
            ;;
    esac
    # demo-server has no arguments besides options: offer them even before a '-' is typed.
    COMPREPLY=($(compgen -W "${_portdemo_server_options[*]}" -- "$cur"))
}

_demo_client() {
    local cur prev words cword split
    _portdemo_words || return
    _portdemo_common_values && return
    case $prev in
        -n | --count | -P | --parallel | --hold | -t | --timeout | -s | --source-port | --requests)
            return # a number
            ;;
        --proxy-protocol)
            COMPREPLY=($(compgen -W "v1 v2" -- "$cur"))
            return
            ;;
        --cacert)
            if declare -F _filedir >/dev/null; then
                _filedir
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return
            ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_portdemo_client_options[*]}" -- "$cur"))
        return
    fi
    # Which argument is this: HOST or PORT? Count the words before it that are neither options
    # nor the values of options.
    local i arguments=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -n | --count | -P | --parallel | --hold | -t | --timeout | -s | --source-port | --proxy-protocol | --requests | \
                --cacert | --format | --color)
                [[ ${words[i + 1]-} == = ]] && ((i++)) # --count = 5, as bash splits --count=5
                ((i++))
                ;;
            -*) ;;
            *) ((arguments++)) ;;
        esac
    done
    case $arguments in
        0)
            if declare -F _known_hosts_real >/dev/null; then
                _known_hosts_real -- "$cur"
            else
                COMPREPLY=($(compgen -A hostname -- "$cur"))
            fi
            declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
            ;;
        1) _portdemo_ports "$cur" ;;
    esac
}

complete -F _demo_server demo-server
complete -F _demo_client demo-client
