import type { Command } from 'commander';
import { type Image, imagesApi } from '../../client/images.js';
import { fromTimestamp } from '../../core/protobuf/timestamp.js';
import { withClient } from './context.js';
import { registerImagePull, registerImagePush } from './images-registry.js';
import { registerImageArchive, sizeAndPlatforms } from './images-archive.js';
import { reportFailure } from './exit-codes.js';
import { type FormatFlags, addFormatOption, printList } from './format.js';
import { labelsString, parseLabelArgs, table } from './output.js';

/** Image record as readable JSON. */
export function imageInfo(i: Image) {
  return {
    Name: i.name,
    Labels: i.labels,
    Target: {
      MediaType: i.target?.mediaType,
      Digest: i.target?.digest,
      Size: i.target?.size,
      Annotations: i.target?.annotations,
    },
    CreatedAt: fromTimestamp(i.createdAt)?.toISOString(),
    UpdatedAt: fromTimestamp(i.updatedAt)?.toISOString(),
  };
}

/** Runs `fn` for each argument, reporting failures per argument (the exit status says the worst). */
async function each(args: string[], what: string, fn: (arg: string) => Promise<void>) {
  for (const arg of args) {
    try {
      await fn(arg);
    } catch (err) {
      reportFailure(`failed to ${what} ${arg}`, err);
    }
  }
}

export function registerImages(program: Command) {
  const images = program
    .command('images')
    .aliases(['image', 'i'])
    .description('manage image records');
  registerImagePull(images);
  registerImagePush(images);
  registerImageArchive(images);

  addFormatOption(
    images
      .command('ls [filters...]')
      .alias('list')
      .description(
        'list images (filters like name~=busybox, labels.app==web, target.digest==sha256:…)',
      )
      .option('-q, --quiet', 'print only image names'),
  ).action(
    withClient(async (client, filters: string[], flags: FormatFlags) => {
      const list = await imagesApi(client).list(...filters);
      await printList(flags, list, {
        fields: imageInfo,
        id: (i) => i.name,
        table: async (items) => {
          // SIZE and PLATFORMS come from the manifests in the content store.
          const rows: string[][] = [];
          for (const i of items) {
            const [size, platforms] = await sizeAndPlatforms(client, i);
            rows.push([
              i.name,
              i.target?.mediaType || '-',
              i.target?.digest || '-',
              size,
              platforms,
              labelsString(i.labels),
            ]);
          }
          return table(['REF', 'TYPE', 'DIGEST', 'SIZE', 'PLATFORMS', 'LABELS'], rows);
        },
      });
    }),
  );

  images
    .command('rm <names...>')
    .aliases(['remove', 'delete', 'del'])
    .description('remove image records')
    .option('--sync', 'wait for garbage collection of what only these images held')
    .action(
      withClient(async (client, names: string[], flags: { sync?: boolean }) => {
        const api = imagesApi(client);
        await each(names, 'delete image', async (name) => {
          await api.delete(name, { sync: flags.sync });
          process.stdout.write(name + '\n');
        });
      }),
    );

  images
    .command('tag <source> <targets...>')
    .description('give an image one or more new names')
    .option('--force', 'replace a target name that already exists')
    .action(
      withClient(async (client, source: string, targets: string[], flags: { force?: boolean }) => {
        const api = imagesApi(client);
        await each(targets, 'tag', async (target) => {
          await api.tag(source, target, { force: flags.force });
          process.stdout.write(target + '\n');
        });
      }),
    );

  images
    .command('label <name> [labels...]')
    .description('set (key=value) or remove (key=) labels on an image')
    .option('-r, --replace-all', 'replace every label with the given ones')
    .action(
      withClient(
        async (client, name: string, labels: string[], flags: { replaceAll?: boolean }) => {
          const api = imagesApi(client);
          const parsed = parseLabelArgs(labels);
          const image = flags.replaceAll
            ? await api.replaceLabels(name, parsed)
            : await api.setLabels(name, parsed);
          process.stdout.write(labelsString(image.labels) + '\n');
        },
      ),
    );
}
