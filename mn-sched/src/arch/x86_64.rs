//! x86_64 (System V) context switch: eight instructions of inline asm.
//!
//! The side that switches away, just before its stack pointer is saved:
//!
//! ```text
//!   higher addresses
//!   +---------------------------+
//!   | ... caller's frame ...    |   (16-byte aligned here: asm! without
//!   +---------------------------+    `nostack` guarantees a call-ready rsp)
//!   | resume address (label 2)  |   push rax   (rax = lea [rip + 2f])
//!   | saved rbp                 |   push rbp
//!   | saved rbx                 |   push rbx
//!   +---------------------------+ <- rsp, stored into *save
//!   lower addresses
//! ```
//!
//! Resuming pops rbx and rbp and `ret`s to the resume address. rbx and rbp
//! are pushed by hand because LLVM reserves them (they cannot be asm
//! operands); r12–r15 are declared clobbered, so the compiler saves around
//! the switch only those that hold live values; every caller-saved register
//! (including the vector registers) is clobbered by `clobber_abi("sysv64")`.
//! `rdx` carries `arg` across. MXCSR and the x87 control word are not
//! switched: every G shares its thread's settings, as in corosensei and Go.
//!
//! A fresh stack (`init_stack`) looks as if it had been switched away from:
//!
//! ```text
//!   top (16-aligned) ->  +-------------------+
//!                        | 0                 |  fake return address of `entry`:
//!                        |                   |  ends backtraces; rsp = top-8 at
//!                        |                   |  entry, i.e. ≡ 8 (mod 16) as after
//!                        |                   |  a call
//!                        | entry             |  popped by `ret`
//!                        | 0 (rbp)           |
//!   initial sp ------->  | 0 (rbx)           |
//!                        +-------------------+
//! ```
//!
//! The first switch therefore "returns" into `entry` with `rdi = save`,
//! `rsi = to`, `rdx = arg` still in place: exactly `entry(save, to, arg)`
//! under the sysv64 calling convention.

use std::arch::asm;

/// A function a fresh stack starts in: `entry(save, to, arg)`; never returns.
pub(crate) type EntryFn = unsafe extern "sysv64" fn(usize, usize, usize) -> !;

/// Saves the current context into `*save`, resumes the context `to` and hands
/// it `arg`; returns the `arg` of the switch that later resumes this side.
///
/// # Safety
///
/// * `save` must be valid for a write and stay readable by whoever resumes
///   this side.
/// * `to` must be a context saved by `switch` (and not resumed since) or
///   returned by [`init_stack`], on a stack that is still mapped and not in
///   use by any other thread.
/// * The code resumed must eventually switch back to `*save` or never need to
///   (this frame and everything it owns stay suspended until then).
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut usize, to: usize, arg: usize) -> usize {
    let ret: usize;
    // SAFETY: `save` is writable and `to` a suspended context (caller). The
    // asm pushes rbx/rbp/resume address (no `nostack`: allowed), swaps stacks
    // and pops the other side's; all else a call may destroy is clobbered.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "push rax",
            "push rbp",
            "push rbx",
            "mov [rdi], rsp",
            "mov rsp, rsi",
            "pop rbx",
            "pop rbp",
            "pop rax",
            "jmp rax",
            "2:",
            in("rdi") save,
            in("rsi") to,
            inout("rdx") arg => ret,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            clobber_abi("sysv64"),
        );
    }
    ret
}

/// Lays out a fresh stack whose top is `top` so that the first [`switch`] to
/// the returned context calls `entry`.
///
/// # Safety
///
/// `top` must be 16-byte aligned and the 32 bytes below it writable memory of
/// a stack that stays mapped while the context is in use.
pub(crate) unsafe fn init_stack(top: usize, entry: EntryFn) -> usize {
    debug_assert_eq!(top % 16, 0, "stack top must be 16-byte aligned");
    let sp = top - 32;
    let words = sp as *mut usize;
    // SAFETY: the caller guarantees the 32 bytes below `top` are writable;
    // `sp` is 16-aligned, so each word is aligned.
    unsafe {
        words.write(0); // rbx
        words.add(1).write(0); // rbp
        words.add(2).write(entry as usize); // popped by `ret`
        words.add(3).write(0); // fake return address of `entry`
    }
    sp
}
