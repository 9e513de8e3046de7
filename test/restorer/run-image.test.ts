// Run-image selection: the restorer's check (lifecycle ResolveRunImageFromAnalyzed, #1590 fixed) and
// the analyzer's mirror choice (BestRunImageMirrorFor), with a checker that counts its calls
// (contract.md §6.4, §9 item 25; lifecycle platform/run_image_test.go).
import { describe, expect, it } from 'vitest';
import {
  bestRunImageMirrorFor, comparableImageName, findRunImage, isRestoreError, resolveRunImageFromAnalyzed, RestoreError,
} from '../../src/restorer/index.js';
import type { RunToml } from '../../src/cnb/index.js';
import { countingChecker } from './helpers.js';
import { rejection } from '../oci/registry/support.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const RUN: RunToml = {
  images: [
    { image: 'pack-test/run', mirrors: ['localhost:5000/pack-test/run', 'mirror.example.com/pack-test/run:v1'] },
    { image: 'other.example.com/base/run:jammy', mirrors: [] },
  ],
};

describe('comparableImageName (lifecycle internal/name ParseMaybe)', () => {
  it('drops the digest, fills in Docker defaults, leaves unparsable names alone', () => {
    expect(comparableImageName('pack-test/run')).toBe('docker.io/pack-test/run:latest');
    expect(comparableImageName('index.docker.io/pack-test/run:latest')).toBe('docker.io/pack-test/run:latest');
    expect(comparableImageName(`ubuntu@${DIGEST}`)).toBe('docker.io/library/ubuntu:latest');
    expect(comparableImageName(`localhost:5000/a/b:t@${DIGEST}`)).toBe('localhost:5000/a/b:t');
    expect(comparableImageName('NOT A REF')).toBe('NOT A REF');
  });

  it('findRunImage matches an image or a mirror ignoring digests, not a different tag', () => {
    expect(findRunImage(RUN, 'docker.io/pack-test/run:latest')).toBe(RUN.images[0]);
    expect(findRunImage(RUN, `localhost:5000/pack-test/run@${DIGEST}`)).toBe(RUN.images[0]);
    expect(findRunImage(RUN, 'mirror.example.com/pack-test/run:v1')).toBe(RUN.images[0]);
    expect(findRunImage(RUN, 'mirror.example.com/pack-test/run:v2')).toBeUndefined();
    expect(findRunImage(RUN, 'other.example.com/base/run:jammy')).toBe(RUN.images[1]);
    expect(findRunImage({ images: [] }, 'pack-test/run')).toBeUndefined();
  });
});

describe('resolveRunImageFromAnalyzed (restorer, Platform ≥ 0.14)', () => {
  it('#1590: analyzed selected a mirror; the primary is inaccessible → only the mirror is checked, once, and kept', async () => {
    const check = countingChecker(new Set(['localhost:5000/pack-test/run']));
    expect(await resolveRunImageFromAnalyzed('localhost:5000/pack-test/run', RUN, check)).toBe('localhost:5000/pack-test/run');
    expect(check.calls).toEqual(['localhost:5000/pack-test/run']);
  });

  it('the primary is never re-selected, even when it is the only readable image', async () => {
    const check = countingChecker(new Set(['pack-test/run']));
    const e = await rejection(resolveRunImageFromAnalyzed('localhost:5000/pack-test/run', RUN, check));
    expect(isRestoreError(e, 'RUN_IMAGE_NOT_ACCESSIBLE')).toBe(true);
    expect((e as Error).message).toBe("selected run image 'localhost:5000/pack-test/run' is not accessible");
    expect(check.calls).toEqual(['localhost:5000/pack-test/run']);
  });

  it('the reverse: analyzed points at a listed image that cannot be read → the exact lifecycle message', async () => {
    const check = countingChecker(new Set(['localhost:5000/pack-test/run']));
    const e = await rejection(resolveRunImageFromAnalyzed('pack-test/run', RUN, check));
    expect(e).toBeInstanceOf(RestoreError);
    expect((e as Error).message).toBe("selected run image 'pack-test/run' is not accessible");
    expect(check.calls).toEqual(['pack-test/run']);
  });

  it('an image run.toml does not list (an extension switched it) is returned without any check', async () => {
    const check = countingChecker(new Set());
    expect(await resolveRunImageFromAnalyzed('switched.example.com/run:custom', RUN, check)).toBe('switched.example.com/run:custom');
    expect(await resolveRunImageFromAnalyzed('', RUN, check)).toBe('');
    expect(await resolveRunImageFromAnalyzed('pack-test/run', { images: [] }, check)).toBe('pack-test/run');
    expect(check.calls).toEqual([]);
  });

  it('a listed name with a digest is checked as written', async () => {
    const name = `localhost:5000/pack-test/run@${DIGEST}`;
    const check = countingChecker(new Set([name]));
    expect(await resolveRunImageFromAnalyzed(name, RUN, check)).toBe(name);
    expect(check.calls).toEqual([name]);
  });

  it('a checker that throws means "not accessible"; an abort propagates', async () => {
    const throwing = countingChecker(async () => {
      throw new Error('connection refused');
    });
    expect((await rejection(resolveRunImageFromAnalyzed('pack-test/run', RUN, throwing)) as Error).message).toBe("selected run image 'pack-test/run' is not accessible");
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    const e = await rejection(resolveRunImageFromAnalyzed('pack-test/run', RUN, countingChecker(new Set(['pack-test/run'])), { signal: ac.signal }));
    expect((e as Error).message).toBe('stop');
  });
});

describe('bestRunImageMirrorFor (analyzer)', () => {
  const md = { image: 'pack-test/run', mirrors: ['localhost:5000/pack-test/run', 'mirror.example.com/pack-test/run:v1', 'Bad Ref'] };

  it('prefers a readable candidate on the target registry', async () => {
    const check = countingChecker(new Set(['pack-test/run', 'localhost:5000/pack-test/run', 'mirror.example.com/pack-test/run:v1']));
    expect(await bestRunImageMirrorFor('mirror.example.com', md, check)).toBe('mirror.example.com/pack-test/run:v1');
    expect(check.calls).toEqual(['mirror.example.com/pack-test/run:v1']);
  });

  it('Docker Hub under any spelling is the same registry', async () => {
    for (const reg of ['index.docker.io', 'docker.io', 'registry-1.docker.io']) {
      const check = countingChecker(new Set(['pack-test/run', 'localhost:5000/pack-test/run']));
      expect(await bestRunImageMirrorFor(reg, { image: 'localhost:5000/pack-test/run', mirrors: ['pack-test/run'] }, check)).toBe('pack-test/run');
    }
  });

  it('no readable candidate on the target registry → the first readable one in order; each checked at most once', async () => {
    const check = countingChecker(new Set(['mirror.example.com/pack-test/run:v1']));
    expect(await bestRunImageMirrorFor('localhost:5000', md, check)).toBe('mirror.example.com/pack-test/run:v1');
    expect(check.calls).toEqual(['localhost:5000/pack-test/run', 'pack-test/run', 'mirror.example.com/pack-test/run:v1']);
  });

  it('a 404 is not readable: an unusable primary is skipped for a readable mirror (what #1590 got wrong)', async () => {
    // The real checker (Registry.checkReadAccess) answers false on 404; modelled here by the set.
    const check = countingChecker(new Set(['localhost:5000/pack-test/run']));
    expect(await bestRunImageMirrorFor('', md, check)).toBe('localhost:5000/pack-test/run');
  });

  it('an unparsable candidate is still tried in the second pass (as the lifecycle does)', async () => {
    const check = countingChecker(new Set(['Bad Ref']));
    expect(await bestRunImageMirrorFor('x.example.com', md, check)).toBe('Bad Ref');
  });

  it('errors: no image; nothing readable', async () => {
    const none = countingChecker(new Set());
    const e1 = await rejection(bestRunImageMirrorFor('r.io', { image: '', mirrors: ['a/b'] }, none));
    expect([(e1 as RestoreError).code, (e1 as Error).message]).toEqual(['RUN_IMAGE_MISSING', 'missing run image metadata (-run-image)']);
    const e2 = await rejection(bestRunImageMirrorFor('r.io', md, none));
    expect([(e2 as RestoreError).code, (e2 as Error).message]).toEqual(['NO_ACCESSIBLE_RUN_IMAGE', 'failed to find accessible run image']);
    expect(none.calls).toEqual([...new Set([md.image, ...md.mirrors])]);
  });
});
