/* Running guest signal handlers. A signal the guest catches is caught on the host by a handler
 * that only notes it (with its siginfo); the run loop then delivers it at the next instruction
 * boundary it controls (after a system call, or at the end of an instruction budget) by pushing
 * the x86-64 Linux rt_sigframe (return address = sa_restorer, ucontext with the registers,
 * FXSAVE area and the old mask, siginfo) and entering the handler. rt_sigreturn undoes it.
 * Faults the CPU raises (page faults, #UD, #DE...) go to a handler the guest installed for their
 * signal, with the siginfo Linux would give; without one they end the process. */
#ifndef GUREUM_EMU_USER_SIGNAL_DELIVERY_H
#define GUREUM_EMU_USER_SIGNAL_DELIVERY_H

#include "emu_user/process.h"

#include <stdbool.h>
#include <stdint.h>

/* Applies the guest's disposition of `sig` on the host: SIG_IGN and SIG_DFL as they are, a
 * handler as a host handler that notes the signal (restarting host calls when the guest asked
 * for SA_RESTART). Signals the CPU raises for its own faults are left alone. */
void signal_apply_disposition(const struct emu_process *p, int sig);

/* True when a noted signal waits that the guest does not block. */
bool signal_deliverable(const struct emu_process *p);
/* Delivers one deliverable signal (if any). A signal whose disposition has meanwhile become
 * SIG_DFL gets its default action on the host (which may end this process). */
void signal_deliver(struct emu_process *p);
/* A CPU fault as the signal Linux makes of it. */
struct guest_fault {
	int sig, code;	     /* si_signo, si_code */
	uint64_t addr;	     /* si_addr (and sigcontext cr2) */
	unsigned trapno;     /* exception vector */
	uint64_t error_code; /* the exception's error code */
	uint64_t rflags;     /* the RFLAGS image the CPU pushed (sigcontext eflags) */
};

/* Runs the guest's handler for a fault. False when the signal is not caught or is blocked:
 * then the fault kills the process. */
bool signal_deliver_fault(struct emu_process *p, const struct guest_fault *fault);
/* Forgets noted signals (a forked child starts with none pending). */
void signal_clear_pending(void);
/* rt_sigreturn: restores the context saved in the frame at the guest's rsp. */
int64_t signal_return(struct emu_process *p);
/* rt_sigsuspend/pause: waits with `mask` as the guest mask until a signal is deliverable. The
 * frame of the handler that follows saves the mask from before the call. Returns -EINTR. */
int64_t signal_suspend(struct emu_process *p, uint64_t mask);

#endif
