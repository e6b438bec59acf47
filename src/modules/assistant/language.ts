import { words } from './lexical.ts';

export type AnswerLanguage = 'en' | 'it';

const ITALIAN = new Set(
  'il lo la gli le un una di del della dei delle che per con non sono come cosa quando dove perche chi quale quali mio mia miei ciao buongiorno grazie ricorda vorrei posso puoi voglio parlare operatore prezzo prezzi quanto costa e ho hai ha abbiamo siete al allo alla nel nella sul sulla anche piu questo questa'.split(
    ' ',
  ),
);
const ENGLISH = new Set(
  'the an of and to is are what how when where why who which my your you we can could would should please thanks hello hi remember want speak human price prices cost does do did in on for with this that it be have has'.split(
    ' ',
  ),
);

/**
 * The language a message is written in, when it is clear (en or it): counts of function words.
 * Undefined for short or mixed messages; the caller then uses the user's or tenant's locale.
 */
export function detectLanguage(text: string): AnswerLanguage | undefined {
  let it = 0;
  let en = 0;
  for (const w of words(text)) {
    if (ITALIAN.has(w)) it++;
    if (ENGLISH.has(w)) en++;
  }
  if (it >= 1 && it > en) return 'it';
  if (en >= 1 && en > it) return 'en';
  return undefined;
}

export const LANGUAGE_NAMES: Record<AnswerLanguage, string> = { en: 'English', it: 'Italian' };
