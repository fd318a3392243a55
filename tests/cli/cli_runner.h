// run_cli(): runs the real ferris binary for the CLI tests — argv goes to posix_spawn (no shell,
// no quoting), stdout and stderr are captured separately, and a deadline kills a hung child.
// Sanitizer reports in the child end it by SIGABRT (abort_on_error=1), never by a plain exit 1,
// so a test that expects exit 1 cannot pass on top of an ASan/UBSan/LSan report.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace ferris::test {

struct CliResult {
    int exit_code = -1;   // meaningful when exited
    bool exited = false;  // normal exit (not killed by a signal)
    int signal = 0;       // the signal that ended it, if any
    bool timed_out = false;
    std::string out, err;
    double seconds = 0;

    // One line for assertion messages: how it ended plus the captured stderr.
    std::string describe() const {
        std::ostringstream os;
        if (timed_out) os << "TIMED OUT (killed); ";
        if (exited) {
            os << "exit " << exit_code;
        } else if (signal == 0) {
            os << "did not run";
        } else {
            os << "killed by signal " << signal << " (" << strsignal(signal) << ")";
        }
        os << " after " << seconds << " s\n--- stderr ---\n"
           << err << "--- stdout ---\n"
           << out.substr(0, 2000);
        return os.str();
    }

    // The lines of stderr that start with "error: ".
    std::vector<std::string> error_lines() const {
        std::vector<std::string> lines;
        std::istringstream is(err);
        for (std::string line; std::getline(is, line);)
            if (line.rfind("error: ", 0) == 0) lines.push_back(line);
        return lines;
    }
};

namespace detail {

// The child's environment: ours, with sanitizers told to abort on any report. Options the user
// already set come after ours, so they still win when given on purpose.
inline std::vector<std::string> child_environment() {
    std::vector<std::string> env;
    const std::string forced = "abort_on_error=1:halt_on_error=1:print_stacktrace=1";
    bool asan = false, ubsan = false;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        if (kv.rfind("ASAN_OPTIONS=", 0) == 0) {
            kv = "ASAN_OPTIONS=" + forced + ":" + kv.substr(13);
            asan = true;
        } else if (kv.rfind("UBSAN_OPTIONS=", 0) == 0) {
            kv = "UBSAN_OPTIONS=" + forced + ":" + kv.substr(14);
            ubsan = true;
        }
        env.push_back(kv);
    }
    if (!asan) env.push_back("ASAN_OPTIONS=" + forced);
    if (!ubsan) env.push_back("UBSAN_OPTIONS=" + forced);
    return env;
}

inline std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace detail

// Runs `binary args...` with stdin from /dev/null; kills it (SIGKILL) after timeout_s seconds.
// Failing to start the child is reported in err, with exited false and signal 0.
inline CliResult run_binary(const std::string& binary, const std::vector<std::string>& args,
                            double timeout_s = 60) {
    CliResult r;
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        r.err = std::string("pipe2: ") + std::strerror(errno);
        return r;
    }
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        r.err = std::string("pipe2: ") + std::strerror(errno);
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        return r;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

    std::vector<std::string> argv_s = {binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv = detail::c_strings(argv_s);
    std::vector<std::string> env_s = detail::child_environment();
    std::vector<char*> envp = detail::c_strings(env_s);

    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = -1;
    const int spawn_err =
        ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (spawn_err != 0) {
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        r.err = "posix_spawn " + binary + ": " + std::strerror(spawn_err) + "\n";
        return r;
    }

    const auto deadline = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(timeout_s));
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open_fds = 2;
    char buf[1 << 16];
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        const int n = ::poll(fds, 2, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got > 0) {
                sinks[i]->append(buf, static_cast<size_t>(got));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (pollfd& p : fds)
        if (p.fd >= 0) ::close(p.fd);

    // Both pipes are closed: the child is exiting. A child that closed its output but keeps
    // running still meets the deadline.
    int status = 0;
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (!r.timed_out && std::chrono::steady_clock::now() >= deadline) {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
        }
        ::usleep(2000);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (WIFEXITED(status)) {
        r.exited = true;
        r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r.signal = WTERMSIG(status);
    }
    return r;
}

#ifdef FERRIS_BINARY
inline CliResult run_cli(const std::vector<std::string>& args, double timeout_s = 60) {
    return run_binary(FERRIS_BINARY, args, timeout_s);
}
#endif

}  // namespace ferris::test
