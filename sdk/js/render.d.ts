// Types of weir's JavaScript SDK, render world (`render.js`).
//
// A render plugin's `app.js` default-exports `async function (frame: Frame): Promise<Artifact[]>`;
// annotate it with `/** @param {import("weir-sdk/render").Frame} frame */`.

import type { Json, Level } from "./index";

/** One file a frame produced. */
export interface Artifact {
  /** Unique within the job: a letter or digit, then letters, digits, `.`, `_`, `-`. */
  name: string;
  mediaType: string;
  data: Uint8Array;
}

/** The frame being rendered. */
export class Frame {
  readonly jobId: string;
  readonly number: number;
  /** 1 the first time, higher on a retry. */
  readonly attempt: number;
  /** The package's `[config]` overlaid with the job's `settings`. */
  readonly settings: { [key: string]: Json };
  /** The settings with `defaults` under them. */
  settingsWith<T extends object>(defaults: T): T;
  /** The frame number padded to `width` (6) digits. */
  padded(width?: number): string;
  /** Reports how much of the frame is done, 0 … 1. */
  progress(fraction: number): void;
  /** An artifact of bytes or text (UTF-8). */
  artifact(name: string, mediaType: string, data: Uint8Array | string): Artifact;
  /** A PNG artifact of 8-bit RGB pixels (`width * height * 3` bytes, top row first). */
  png(name: string, width: number, height: number, rgb: Uint8Array): Artifact;
  log(level: Level, message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** An artifact of bytes or text. */
export function artifact(name: string, mediaType: string, data: Uint8Array | string): Artifact;
/** 8-bit RGB pixels as a PNG (stored, not compressed). */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array;
/** Runs `main(frame)` as the component's `render` (the glue `weir pack` adds calls it). */
export function runRender(main: (frame: Frame) => unknown, request: unknown): Promise<Artifact[]>;
