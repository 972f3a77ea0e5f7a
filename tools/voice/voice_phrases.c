/*
 * voice_phrases.c — everyday phone-call phrases that every ear's language
 * model includes, whatever the business corpus says: greetings, yes and no,
 * asking for a person, call-backs, payment talk (collections calls), and
 * the questions callers ask any business. They give the bigram LM the
 * function words and sentence shapes of conversation, which a knowledge
 * text (written prose) lacks.
 *
 * Written already normalised (lower case, numbers in words) so they read
 * as what the recogniser is expected to output.
 */
#include "voice_lm.h"

#include <stddef.h>

const char *const sv_call_phrases[] = {
	/* greetings and courtesy */
	"hello", "hi", "hi there", "hello is anyone there", "good morning", "good afternoon", "good evening",
	"hi i'm calling about my account", "hello i have a question", "thank you", "thanks", "thank you very much",
	"okay", "okay thanks", "all right", "sorry", "sorry i didn't catch that", "can you repeat that please",
	"could you say that again", "what did you say", "please speak slowly", "hold on a second",
	"one moment please", "are you still there", "can you hear me",
	/* yes and no */
	"yes", "yes please", "yeah", "yes that's right", "yes that is correct", "that's correct", "sure",
	"no", "no thanks", "no thank you", "nope", "that's wrong", "that is not right", "i don't know",
	"i'm not sure", "maybe",
	/* a person */
	"i want to talk to a human", "i want to talk to a person", "i want to talk to an agent",
	"i want to speak to a representative", "can i speak to someone", "let me talk to a real person",
	"transfer me to an agent please", "operator", "representative", "agent", "i need help",
	/* ending */
	"goodbye", "bye", "bye bye", "that's all thanks", "that's all thank you", "that is all",
	"nothing else thanks", "have a nice day", "you too",
	/* call back */
	"can you call me back tomorrow", "can you call me back later", "call me back in an hour",
	"i'm busy right now", "this is not a good time", "please call me next week",
	"please don't call me again", "stop calling me", "wrong number", "who is this", "who is calling",
	/* payments and collections */
	"i can pay fifty dollars next friday", "i can pay one hundred dollars today",
	"i can pay twenty dollars a week", "i can pay next week", "i can pay on monday",
	"can i pay in installments", "can i set up a payment plan", "how much do i owe",
	"what is my balance", "that is not my debt", "that's not my debt", "i already paid",
	"i paid last week", "i don't owe anything", "i can't pay right now", "i lost my job",
	"send me a letter", "can you email me the details",
	"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
	"today", "tomorrow", "next week", "next month", "this afternoon", "in the morning",
	"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "zero",
	/* questions to any business */
	"what are your opening hours", "when are you open", "are you open today", "are you open on sunday",
	"what time do you close", "how much does it cost", "how much is it", "what is the price",
	"where are you located", "what is your address", "how do i get there", "do you have parking",
	"can i make an appointment", "i want to book an appointment", "i need to cancel my appointment",
	"i want to cancel my subscription", "i want to change my order", "where is my order",
	"what is the status of my order", "do you deliver", "do you ship internationally",
	"do you accept credit cards", "what payment methods do you accept", "is there a discount",
	"do you have a website", "what is your email address", "what is your phone number",
	"tell me more", "what else can you tell me", "what do you offer", "what services do you offer",
	"i have a problem", "it's not working", "i want a refund", "how long does it take",
	NULL,
};
