// SPDX-License-Identifier: Apache-2.0
#include "vouchctl/cli.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "lib/file_io.h"
#include "lib/parse.h"

namespace vouch::ctl {

std::string Command::full_name() const {
    std::string s(name);
    if (!sub.empty())
        s.append(" ").append(sub);
    return s;
}

Exit print_help(const Command &cmd) {
    std::string name = cmd.full_name();
    std::printf("Usage: vouchctl %s%s%.*s\n\n%.*s\n", name.c_str(), cmd.synopsis.empty() ? "" : " ",
                int(cmd.synopsis.size()), cmd.synopsis.data(), int(cmd.summary.size()),
                cmd.summary.data());
    if (!cmd.details.empty())
        std::printf("\n%.*s", int(cmd.details.size()), cmd.details.data());
    return Exit::Ok;
}

Exit usage_error(const Command &cmd, const std::string &msg) {
    std::string name = cmd.full_name();
    std::fprintf(stderr, "vouchctl %s: %s (see vouchctl %s --help)\n", name.c_str(), msg.c_str(),
                 name.c_str());
    return Exit::Usage;
}

Exit write_output(const std::string &out, const std::string &data, const char *who) {
    if (out.empty() || out == "-") {
        if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() ||
            std::fflush(stdout) != 0) {
            std::fprintf(stderr, "%s: writing stdout: %s\n", who, std::strerror(errno));
            return Exit::Failure;
        }
        return Exit::Ok;
    }
    if (auto r = write_file_atomic(out, data, 0644); !r) {
        std::fprintf(stderr, "%s: %s\n", who, r.error().message.c_str());
        return Exit::Failure;
    }
    return Exit::Ok;
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Result<uint64_t> parse_number(std::string_view option, const std::string &text, uint64_t min,
                              uint64_t max) {
    uint64_t v = 0;
    if (parse_uint(text, max, &v) && v >= min)
        return v;
    std::string range = max == UINT64_MAX && min == 0
                            ? "a non-negative integer"
                            : "a number from " + std::to_string(min) + " to " + std::to_string(max);
    return make_error(EINVAL, std::string(option) + ": '" + text + "' is not " + range);
}

Result<Parsed>
parse_options(int argc, char **argv, const std::vector<Option> &options,
              const std::function<Result<void>(int id, const char *value)> &on_option) {
    constexpr int kHelp = 'h';
    // ':' first: a missing value comes back as ':', not as '?' with a message
    // getopt would print itself.
    std::string shorts = ":h";
    std::vector<option> longs;
    for (const auto &o : options) {
        longs.push_back({o.name, o.has_arg, nullptr, o.id});
        if (o.short_too) {
            shorts += char(o.id);
            if (o.has_arg == required_argument)
                shorts += ':';
        }
    }
    longs.push_back({"help", no_argument, nullptr, kHelp});
    longs.push_back({nullptr, 0, nullptr, 0});

    Parsed p;
    // 0, not 1: getopt also forgets where it was inside a "-abc" group, so
    // every parse (several per process in the tests) starts afresh.
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts.c_str(), longs.data(), nullptr)) != -1) {
        if (c == kHelp) {
            p.help = true;
            return p;
        }
        if (c == '?' || c == ':') {
            // The option as typed: "--name" without its "=value", or "-X".
            std::string typed = optind > 0 && optind <= argc ? argv[optind - 1] : "";
            bool is_long = typed.starts_with("--");
            bool had_value = is_long && typed.find('=') != std::string::npos;
            typed = is_long ? typed.substr(0, typed.find('=')) : std::string("-") + char(optopt);
            if (c == ':')
                return bad_usage("option '" + typed + "' needs a value");
            if (is_long && optopt && had_value)
                return bad_usage("option '" + typed + "' takes no value");
            // getopt_long takes a unique prefix of a long name ("--ser").
            int matches = 0;
            for (const auto &o : longs)
                matches +=
                    is_long && o.name && std::string_view(o.name).starts_with(typed.substr(2));
            if (matches > 1)
                return bad_usage("option '" + typed + "' is ambiguous");
            return bad_usage("unknown option '" + typed + "'");
        }
        if (auto r = on_option(c, optarg); !r)
            return r.error();
    }
    for (int i = optind; i < argc; i++)
        p.args.emplace_back(argv[i]);
    return p;
}

std::optional<Exit> settle_options(const Command &cmd, const Result<Parsed> &p, size_t min_args,
                                   size_t max_args, std::string_view arity) {
    if (!p)
        return usage_error(cmd, p.error().message);
    if (p->help)
        return print_help(cmd);
    if (p->args.size() < min_args || p->args.size() > max_args)
        return usage_error(cmd, std::string(arity));
    return std::nullopt;
}

} // namespace vouch::ctl
