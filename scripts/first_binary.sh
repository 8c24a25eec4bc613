# Sourced by the ensure_*.sh scripts. first_binary OVERRIDE CANDIDATE...: prints OVERRIDE when it is set (as given,
# unchecked), else the first candidate that can run: a path (it has a /) that is executable, or a command on PATH
# (its full path). Returns 1, printing nothing, when there is none.
first_binary() {
    if [ -n "$1" ]; then
        echo "$1"
        return 0
    fi
    shift
    local candidate
    for candidate in "$@"; do
        if [[ $candidate == */* ]]; then
            if [ -x "$candidate" ]; then
                echo "$candidate"
                return 0
            fi
        elif command -v "$candidate" >/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}
