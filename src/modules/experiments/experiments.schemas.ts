import { Type } from 'typebox';
import { NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts';

const VariantKey = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$', description: 'Lower-case letters, digits, _ and -' });
export const Variant = Type.Object(
  {
    key: VariantKey,
    weight: Type.Integer({ minimum: 0, maximum: 100, description: 'Share of subjects in percent; the weights sum to 100' }),
  },
  { additionalProperties: false },
);
const Variants = Type.Array(Variant, { minItems: 2, maxItems: 10 });
const Status = Type.Union([Type.Literal('draft'), Type.Literal('running'), Type.Literal('stopped')]);
const SubjectId = Type.String({ minLength: 1, maxLength: 200, description: 'Who is in the experiment; default: the calling user' });

export const Experiment = Type.Object({
  id: Type.String({ format: 'uuid' }),
  key: Type.String(),
  description: Type.String(),
  status: Status,
  variants: Type.Array(Type.Object({ key: Type.String(), weight: Type.Integer() })),
  control: Type.String(),
  startedAt: NullableTimestamp,
  stoppedAt: NullableTimestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const CreateExperimentBody = Type.Object(
  {
    key: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', description: 'Unique in the tenant' }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    variants: Variants,
    control: Type.Optional(VariantKey),
  },
  { additionalProperties: false },
);

export const UpdateExperimentBody = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    variants: Type.Optional(Variants),
    control: Type.Optional(VariantKey),
    status: Type.Optional(Status),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description: 'Variants and control change only in draft; status: draft → running → stopped',
  },
);

export const ListExperimentsQuery = { status: Type.Optional(Status) };

export const AssignmentBody = Type.Object({ subjectId: Type.Optional(SubjectId) }, { additionalProperties: false });
export const Assignment = Type.Object({
  experimentId: Type.String({ format: 'uuid' }),
  key: Type.String(),
  subjectId: Type.String(),
  variant: Type.String(),
});

export const EventBody = Type.Object(
  {
    type: Type.Union([Type.Literal('exposure'), Type.Literal('conversion')]),
    subjectId: Type.Optional(SubjectId),
    variant: Type.Optional(Type.String({ maxLength: 40, description: 'If given, must be the subject’s assigned variant' })),
  },
  { additionalProperties: false },
);
export const EventRecorded = Type.Object({
  experimentId: Type.String({ format: 'uuid' }),
  subjectId: Type.String(),
  type: Type.String(),
  variant: Type.String(),
  recorded: Type.Boolean({ description: 'false: the subject already had this event; nothing changed' }),
});

const Nullable = <T extends ReturnType<typeof Type.Number>>(schema: T) => Type.Union([schema, Type.Null()]);
export const Results = Type.Object({
  experimentId: Type.String({ format: 'uuid' }),
  key: Type.String(),
  status: Status,
  control: Type.String(),
  confidenceLevel: Type.Number(),
  method: Type.Object({ interval: Type.String(), test: Type.String(), significanceLevel: Type.Number() }),
  variants: Type.Array(
    Type.Object({
      key: Type.String(),
      weight: Type.Integer(),
      isControl: Type.Boolean(),
      exposures: Type.Integer(),
      conversions: Type.Integer(),
      conversionRate: Nullable(Type.Number()),
      confidenceInterval: Type.Union([Type.Object({ low: Type.Number(), high: Type.Number() }), Type.Null()]),
      comparison: Type.Union([
        Type.Object({
          against: Type.String(),
          difference: Nullable(Type.Number()),
          relativeLift: Nullable(Type.Number()),
          z: Nullable(Type.Number()),
          pValue: Nullable(Type.Number()),
          significant: Type.Boolean(),
        }),
        Type.Null(),
      ]),
    }),
  ),
  summary: Type.String({ description: 'The results in a sentence, in the caller’s language, number format and time zone' }),
});
