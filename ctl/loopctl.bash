# bash completion for loopctl, loopd's command-line client.
#
# Installed as share/bash-completion/completions/loopctl, and printed by
# `loopctl completion bash` (the binary embeds this very file):
#     source <(loopctl completion bash)
#
# The commands and their options come from the binary's own command table
# (`loopctl __complete commands`, `loopctl __complete options COMMAND`);
# job, plugin and kind names from the daemon (`loopctl __complete jobs`,
# `plugins`, `kinds`), on the socket given with -s if there is one.  So
# nothing here changes when a command or an option is added.

# Zone names under /usr/share/zoneinfo, for --tz.
_loopctl_zones() {
	(cd /usr/share/zoneinfo 2>/dev/null &&
		find . -path ./posix -prune -o -path ./right -prune -o \
			\( -type f -o -type l \) -print 2>/dev/null) |
		sed -n 's|^\./\([A-Z][^.]*\)$|\1|p'
}

_loopctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev='' ctl=${COMP_WORDS[0]}
	local cmd='' w opt arg specs words i n
	local -a sock=() pos=()
	local -A takes=()
	local dashdash=0 after=0

	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# The command: the first word that is neither a global option nor
	# its value.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-s | --socket)
			sock=(-s "${COMP_WORDS[i + 1]}")
			((i++))
			continue
			;;
		-o | --output)
			((i++))
			continue
			;;
		-*) [[ -n $cmd ]] || continue ;;
		esac
		if [[ -z $cmd ]]; then
			cmd=$w
			break
		fi
	done

	case $prev in
	-s | --socket)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	-o | --output)
		mapfile -t COMPREPLY < <(compgen -W "table json" -- "$cur")
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			words=$("$ctl" __complete options 2>/dev/null | cut -d' ' -f1)
		else
			words=$("$ctl" __complete commands 2>/dev/null)
		fi
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return
	fi

	# The command's options: "--name ARG" or "--name", one a line.
	specs=$("$ctl" __complete options "$cmd" 2>/dev/null)
	while read -r opt arg; do
		[[ -n $opt ]] && takes[$opt]=$arg
	done <<<"$specs"

	# The words after the command: positional arguments, and "--".
	for ((i++; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((dashdash)); then
			((after++))
		elif [[ $w == -- ]]; then
			dashdash=1
		elif [[ $w == -* ]]; then
			[[ -n ${takes[$w]-} ]] && ((i++))
		else
			pos+=("$w")
		fi
	done

	if ((dashdash)); then # add/edit: -- COMMAND ARGS...
		if ((after == 0)); then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		else
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		return
	fi

	if [[ $prev == -* && -n ${takes[$prev]-} ]]; then
		case $prev in
		--state) words="active paused running waiting-for-plugin done" ;;
		--overlap) words="skip allow queue replace" ;;
		--catchup) words="once skip all" ;;
		--kind) words=$("$ctl" "${sock[@]}" __complete kinds 2>/dev/null) ;;
		--tz) words=$(_loopctl_zones) ;;
		*) return ;;
		esac
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return
	fi

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "${!takes[*]}" -- "$cur")
		return
	fi

	n=${#pos[@]}
	case $cmd in
	show | edit | run | runs)
		((n == 0)) || return
		words=$("$ctl" "${sock[@]}" __complete jobs 2>/dev/null)
		;;
	rm | pause | resume)
		words=$("$ctl" "${sock[@]}" __complete jobs 2>/dev/null)
		;;
	plugins)
		if ((n == 0)); then
			words="load unload reload"
		elif ((n == 1)) && [[ ${pos[0]} == load ]]; then
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return
		elif ((n == 1)) && [[ ${pos[0]} == unload || ${pos[0]} == reload ]]; then
			words=$("$ctl" "${sock[@]}" __complete plugins 2>/dev/null)
		else
			return
		fi
		;;
	help)
		((n == 0)) || return
		words=$("$ctl" __complete commands 2>/dev/null)
		;;
	completion)
		((n == 0)) || return
		words=bash
		;;
	call)
		((n == 0)) || return
		words=$("$ctl" __complete methods 2>/dev/null)
		;;
	*) return ;;
	esac
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

complete -F _loopctl loopctl
