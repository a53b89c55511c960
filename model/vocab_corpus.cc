// The English text the vocabulary builder learns its merges from. It was
// written for tessera (original prose in a plain, public-domain style: a river
// town, bread, a lighthouse log, maps, numbers, a workshop dialogue, gardens,
// trains, letters, weather, a library, a market, music, a fable, computers, a
// letter, borrowed words, a glossary), so it carries no one else's copyright.
// Paragraphs are single lines; the text mixes prose, dialogue with
// contractions, digits, punctuation and a few accented and non-Latin words.
#include "model/vocab_corpus.h"

namespace tessera {
namespace {

constexpr char kCorpus[] =
R"corpus(The River Town

There is a small town on the bend of a slow river, and most of the people who live there have never wanted to live anywhere else. In the morning the water is grey and smooth, and the mist sits on it like a folded sheet. By the middle of the day the sun has burned the mist away, and the river turns a soft green colour that the children call bottle glass. Boats come and go, but not many. A ferry crosses twice an hour, carrying bicycles, baskets of apples, a few cars, and the same old man who reads the same newspaper every day.

The town has one main street, two bakeries, a hardware store, a library with a red door, and a market that opens on Saturday. The houses are built of stone at the bottom of the hill and of wood at the top, because the stone had to be carried up from the quarry and nobody wanted to carry it very far. When people give directions they do not use street names. They say, "Go past the bakery with the blue awning, turn left at the fountain, and keep walking until you can see the water tower." Visitors find this confusing at first, and then they find it charming, and then they start giving directions the same way.

In the spring the river rises. It does not rise quickly, and it does not rise every year, but when it does, the people who live closest to the bank move their chairs and their rugs to the upper floor and wait. The older residents remember a flood that reached the steps of the church. They tell the story often, and each time the water climbs a little higher. The younger residents listen politely and check the weather report.

Summer is the season of long evenings. The cafés put tables on the pavement, and the smell of coffee and fried onions drifts down to the landing. Fishermen sit on the wall with their lines in the water and their hats over their eyes. They rarely catch anything, and they do not seem to mind. One of them says that fishing is the only work where doing nothing counts as doing it well.

Autumn arrives with wind. The leaves of the plane trees turn yellow and brown and gather in the gutters, and the street sweepers push them into neat piles that the wind scatters again by the afternoon. The school opens, the tourists leave, and the town takes a deep breath. It is the time for mending roofs, splitting firewood, and making jam from the last of the plums.

Winter is quiet. Snow is rare, but frost is common, and on clear nights the sky is so full of stars that it seems crowded. The river moves slowly under a skin of thin ice near the edges. People walk faster, talk less, and spend their evenings by the stove, reading, knitting, arguing about the council, or listening to the radio. Then one morning a blackbird sings on the chimney, and everyone knows that spring is on its way again.

How Bread Is Made

Bread begins with four things: flour, water, salt, and yeast. Everything else is a matter of taste, patience, and practice. The flour gives the bread its body. The water wakes the flour and lets the proteins in it join together into long, stretchy strands. The salt gives flavour and makes the dough stronger. The yeast is alive, and it is the yeast that makes the bread rise.

To start, the baker mixes the flour and the water in a large bowl until there are no dry patches left. Some bakers let this rough mixture rest for half an hour before adding anything else. During that rest the flour drinks the water, and the dough becomes smoother by itself, which saves a great deal of work later. Then the salt and the yeast go in, and the kneading begins.

Kneading is simple to describe and hard to do well. The baker pushes the dough away with the heel of the hand, folds it back, turns it a quarter turn, and pushes again. After ten minutes the dough changes. It stops tearing and starts to stretch. It becomes smooth and slightly shiny, and when the baker presses a finger into it, the dent slowly fills back in. That is the sign that the strands of gluten have formed a strong net.

The dough is then left to rise in a warm place, covered with a cloth. The yeast eats the sugars in the flour and breathes out tiny bubbles of gas. The net of gluten traps the bubbles, and the dough swells like a slow balloon. In a warm kitchen this takes about an hour. In a cold kitchen it can take three or four hours, and many bakers prefer the slow rise, because it gives the bread a deeper flavour.

When the dough has doubled in size, the baker turns it out onto the table, presses out some of the gas, and shapes it into a loaf. A round loaf is called a boule. A long one is called a baton or a baguette, depending on how long and how thin it is. The shaped loaf rises a second time, for less time than the first. Just before it goes into the oven, the baker cuts a few shallow slashes across the top with a sharp blade. The slashes let the loaf open and grow in the heat without bursting at the sides.

The oven must be hot, much hotter than for a cake. A little steam in the first few minutes keeps the crust soft long enough for the loaf to expand. Then the steam is let out, and the crust turns brown and crisp. A loaf is done when it sounds hollow as you tap on the bottom. The hardest part of the whole process comes at the end: the bread should cool for at least an hour before anyone cuts it, and nobody ever wants to wait.

)corpus"
R"corpus(The Lighthouse Keeper's Notebook

Monday. Wind from the north-west, force five, rising. The sea was white with foam by noon. I cleaned the lens this morning, all of its prisms one by one, with a soft cloth and a little alcohol. It took four hours. The lamp was lit at 6:42 in the evening and burned steadily all night. Two ships passed to the south, both of them heading for the harbour. The supply boat did not come, because the swell was too high at the landing.

Tuesday. The wind dropped overnight, and the morning was calm and cold. I wound the clockwork that turns the light, which I do every four hours, day and night, whether I feel like it or not. The mechanism is older than my grandfather, and it still keeps perfect time if you oil it and do not hurry it. I painted the railings on the gallery. The gulls watched me with great interest and, I think, some disapproval.

Wednesday. Fog. The whole world shrank to the size of the island. I could not see the water from the door, though I could hear it on the rocks. I started the foghorn at eight in the morning and ran it until three in the afternoon, two long blasts every minute. By the end of the day the sound was inside my head, and I could still hear it after I had stopped it. The supply boat came in the evening when the fog lifted. They brought flour, oil, candles, potatoes, a crate of oranges, three letters, and a box of books from the library on the mainland.

Thursday. Clear and bright. I read one of the books, a history of maps, and then I walked around the island twice, which takes forty minutes if you stop to look at the seals. There were eleven of them on the flat rocks at low tide. Some were asleep, some were scratching, and one was watching me as if I owed it money. In the afternoon I wrote replies to my letters and mended a shutter that had been banging for a week.

Friday. Rain, heavy at times, with a strong wind from the south. The barometer fell all day. The lamp was lit early, at 5:58, because the sky was so dark. Around midnight a fishing boat came too close to the reef, and I watched it through the telescope until it turned away into deeper water. I do not know if they saw the light or simply knew the coast. Either way, they went home safely, and that is the whole purpose of the work.

Saturday. Storm. The waves broke over the lower rocks and threw spray as high as the kitchen window. The tower trembled a little in the worst of the gusts, as it was built to do. I checked the lamp every hour. At three in the morning I made tea and sat on the stairs listening to the wind. It is a strange thing to be so alone and to feel so useful at the same moment.

Sunday. Calm after the storm. The beach on the east side is covered with seaweed, driftwood, a broken oar, two plastic bottles, and a wooden crate with the name of a company written on it in faded letters. I carried the wood up to dry for the stove. The sea looks innocent today, smooth and blue, as if it had nothing to do with last night. I have learned not to believe it.

Maps and the Art of Finding the Way

A map is a promise that the world can be understood. It takes a place that is too large to see all at once and folds it onto a sheet of paper that fits in a pocket. To do that, the mapmaker has to decide what matters and what can be left out. A map that showed everything would be as large as the land itself and twice as confusing.

The oldest maps were drawn from memory and from the stories of travellers. They showed the way from one town to the next, with the number of days it took to walk, the places where water could be found, and the rivers that had to be crossed. Distances were measured in time rather than in miles, which is still how most people think about a journey. Nobody says that the sea is thirty kilometres away. They say that it is half an hour by car.

Later, surveyors learned to measure the land with chains, compasses, and careful arithmetic. They chose a straight line, measured its length very precisely, and then measured the angles from each end of the line to a distant point, such as a church tower or the top of a hill. With the length of one side and two angles, they could work out the other sides of the triangle. From each new side they could build another triangle, and another, until a whole country was covered with a net of triangles, each one checked against its neighbours.

The hardest problem of all was finding a ship's position at sea. Latitude, the distance north or south of the equator, could be found by measuring the height of the sun at noon or of the pole star at night. Longitude, the distance east or west, was much harder. The earth turns through fifteen degrees every hour, so if a navigator knew the exact time at home and the exact local time on the ship, the difference between the two would give the longitude. Local time could be found from the sun. The time at home needed a clock that could keep accurate time for months on a rolling ship, through heat, cold, and damp. Building such a clock took many years of patient work.

Today a small receiver can tell anyone where they are to within a few metres. It listens to signals from satellites, each carrying a very precise clock, and it works out its own position from the tiny differences in the time the signals take to arrive. It is the old idea of the triangle once again, only faster and in three dimensions. And yet people still get lost, because knowing where you are is not the same as knowing where you want to go.

)corpus"
R"corpus(Numbers, Counting, and Measures

Children learn to count on their fingers, and that is why most of the world counts in tens. We have ten fingers, so we group things in tens, then in hundreds, then in thousands. The number 2024 means two thousands, no hundreds, two tens, and four units. The position of each digit tells us how much it is worth, and a zero holds a place that would otherwise be empty. This idea, simple as it looks, took a very long time to appear, and it made arithmetic possible for ordinary people.

Not every measure uses tens. There are 60 seconds in a minute and 60 minutes in an hour, 24 hours in a day, 7 days in a week, and 12 months in a year. A circle has 360 degrees. A dozen eggs is 12, and a gross is 144, which is twelve dozen. Sixty is a convenient number because it can be divided evenly by 2, 3, 4, 5, 6, 10, 12, 15, 20, and 30. That is useful when you want to share things fairly or divide an hour into parts.

Here are some sums worked out by hand. 17 + 25 = 42. 100 - 37 = 63. 12 x 12 = 144. 81 / 9 = 9. Half of 50 is 25, and a quarter of 50 is 12.5. If a loaf costs 3.40 and you buy three loaves, you pay 10.20. If you pay with a twenty, you get 9.80 in change. A bus that leaves at 7:15 and arrives at 8:05 takes 50 minutes. A train that travels 120 kilometres in an hour and a half has an average speed of 80 kilometres per hour.

Percentages are fractions of a hundred. Ten percent of 250 is 25, and fifty percent of anything is half of it. When a price rises by 10% and then falls by 10%, it does not return to where it started: 100 becomes 110, and 110 falls to 99. This surprises almost everyone the first time they work it out, and it is a good reason to check the arithmetic instead of trusting a feeling.

Large numbers are hard to imagine. A thousand seconds is about seventeen minutes. A million seconds is about eleven and a half days. A billion seconds is nearly thirty-two years. So the difference between a million and a billion is the difference between a long holiday and most of a working life. Small numbers are just as strange. A millimetre is a thousandth of a metre, a micrometre is a thousandth of that, and the finest hair is still about seventy micrometres wide.

Dates are numbers too, written in many different orders. In some countries 03/04/2025 means the third of April, and in others it means the fourth of March. To avoid the confusion, many people now write the year first, then the month, then the day: 2025-04-03. This order has a pleasant property. If you sort the dates as text, they also come out in order of time.

Prime numbers are the numbers that can only be divided by one and by themselves: 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, and so on without end. Every whole number greater than one can be written as a product of primes in exactly one way. For example, 60 = 2 x 2 x 3 x 5 and 91 = 7 x 13. Nobody has found a simple rule that predicts where the next prime will be, and people have been looking for more than two thousand years.

)corpus"
R"corpus(A Conversation at the Workshop

"Can you fix it?" she asked, putting the clock on the bench.

"I don't know yet," said the clockmaker. "I'll have to open it first. What's wrong with it?"

"It's slow. It loses about ten minutes a day, and it stops completely if the window's open."

"Then it's probably dirty, or the oil has gone thick. Cold makes old oil stiff. Let's have a look." He turned the clock over, undid four small screws, and lifted off the back. Inside, the wheels sat in their frame like a tiny city, brass and steel, with a coiled spring at the centre.

"It's beautiful!" she said. "I've never seen the inside of one."

"Most people haven't. They'd be surprised how simple it is. The spring stores the energy. The wheels pass it along and slow it down. The escapement lets it out a little at a time, tick by tick, and the pendulum decides how long each tick should be. If the pendulum is steady, the clock keeps time. If the wheels can't turn freely, the pendulum can't do its job."

"So what will you do?"

"I'll take it apart, clean every piece, check the pivots for wear, put it back together, and oil it with a very small amount of good oil. Then I'll let it run for a week and see how it behaves. You can't hurry a clock. If you do, it'll remind you."

"How long will that take?"

"Two weeks, maybe three. I've got a grandfather clock ahead of it, and a ship's clock that somebody dropped down a staircase."

"That's fine. It was my grandmother's. She said it had never been right, and she liked it that way, because it gave her ten extra minutes every morning."

He laughed. "Then maybe you shouldn't let me fix it!"

"No, please do. I'd rather know what time it really is. I'll find the extra minutes somewhere else."

The Garden in Four Parts

Anyone can grow something. A pot on a windowsill, a handful of soil, and a few seeds are enough to begin. The seeds do most of the work themselves. What they need from the gardener is light, water, and patience, and a little protection from the things that would like to eat them.

The first part of gardening is the soil. Good soil is dark and crumbly and smells of rain. It holds water without becoming a swamp, and it is full of tiny living things that break down dead leaves and roots into food for new plants. Gardeners feed the soil with compost, which is simply kitchen scraps, grass cuttings, and fallen leaves left in a heap until they rot. A compost heap needs air and a little moisture. It should be warm in the middle, and it should never smell bad. If it does, it needs more dry material and more turning.

The second part is choosing what to grow. Beans, peas, lettuce, radishes, and potatoes are easy and forgiving. Tomatoes need sun and support. Carrots need deep, loose soil without stones, or they grow crooked and forked. Herbs such as mint, thyme, sage, and rosemary are happy in pots, and mint is so happy that it will take over a whole bed if nobody stops it. Flowers are not only for looking at. They bring bees and other insects that carry pollen from plant to plant, and without them many fruits would never form.

The third part is water. Plants in the ground need less watering than most people think, but when they need it, they need a lot. A deep soaking once a week is better than a light sprinkle every evening, because deep water encourages deep roots, and deep roots can find moisture during a dry spell. The best time to water is early in the morning, before the sun is strong, so that the leaves dry quickly and the water goes where it is needed.

The fourth part is waiting. Seeds take days or weeks to come up. Fruit takes months to ripen. Trees take years to give a harvest worth the name. A gardener learns to notice small changes: the first green loop of a bean pushing through the soil, the swelling of a bud, the moment a tomato turns from green to orange. There is no way to make any of it go faster, and that is one of the reasons people find a garden so calming. It runs on its own clock.

Trains and Timetables

The railway changed the way people thought about time. Before the trains, each town kept its own time, set by the sun. Noon was the moment when the sun was highest, and that moment came a few minutes later in a town to the west than in a town to the east. Nobody minded, because nobody travelled fast enough to notice. When trains began to run between cities, the difference became a problem. A timetable that used local time at every station was a puzzle that few passengers could solve, and two trains on the same line could easily disagree about when they would meet.

The answer was standard time. A whole region agreed to set its clocks by one reference, even if that meant noon on the clock was not quite noon by the sun. Later the world was divided into time zones, each one roughly fifteen degrees of longitude wide, so that the clock in each zone would never be too far from the sun. Today we take it for granted that the time is the same across a whole country, or at least across a large part of it, but it was a new and strange idea not so very long ago.

A timetable is a kind of map drawn in time instead of space. It tells you where each train will be and when. The best timetables are easy to remember. Trains leave at the same minutes past every hour, so a traveller learns that the train to the coast leaves at 14 and 44 minutes past, and never needs to look it up again. Behind the simple pattern is a great deal of planning. Trains share tracks, platforms, and drivers, and a delay in one place can spread across the whole network like a ripple on a pond.

)corpus"
R"corpus(Letters and the Post

A letter is a slow conversation. You write your half of it, fold it, seal it in an envelope, and then you wait. Days later, somebody far away opens it and hears your voice in their head. They write back, and the wait begins again. In between, each person lives with the other person's words for a while, and reads them more than once, and notices things that would have slipped past in a quick exchange.

The postal system is one of the great cooperative inventions. A letter posted in a small village can travel across the sea, through a dozen sorting offices, onto a plane or a ship, into a van, and up a garden path to a door in a city the sender has never seen. Along the way it passes through the hands of many people who will never read it and never know what it says. The whole thing works because everyone agrees on a few simple rules: the address goes on the front, the stamp goes in the corner, and the post goes where it is told.

Addresses are tiny maps. They start with the largest area or the smallest one, depending on the country, and they narrow down step by step: country, city, street, number, name. A postcode turns the address into numbers and letters that a machine can read. Sorting machines can read millions of addresses a day, and they still send the strange ones to a person who is very good at guessing what the writer meant.

People have always found ways to write when paper was scarce. They wrote on the margins of other letters, on the backs of old bills, and across the page in two directions, first horizontally and then vertically over the top, so that one sheet held twice as many words. It looks impossible to read, and yet with a little practice the eye learns to follow one set of lines and ignore the other.

A handwritten letter says more than its words. The shape of the letters, the pressure of the pen, the crossings out, the hurried postscript squeezed in at the bottom: all of them tell the reader something about the writer's mood. That is one reason people keep old letters in boxes for decades. They are not keeping the information. They are keeping the hand that wrote it.

Weather and the Sky

Weather is the atmosphere in motion. The sun warms the ground, the ground warms the air above it, and warm air rises because it is lighter than the cold air around it. As it rises it cools, and the water vapour in it condenses into tiny droplets that we see as clouds. When the droplets join together and grow heavy enough, they fall as rain, or as snow if the air is cold enough all the way down.

Clouds have names that describe their shapes. Cumulus clouds are the white heaps that look like cotton on a summer afternoon. Stratus clouds are flat grey sheets that cover the whole sky and bring drizzle. Cirrus clouds are thin wisps very high up, made of ice crystals, and they often arrive a day or two before a change in the weather. A cumulonimbus is a towering storm cloud with a flat top like an anvil, and it brings thunder, lightning, heavy rain, and sometimes hail.

Wind is air moving from places of high pressure to places of low pressure. Because the earth turns, the wind does not blow straight from high to low, but curves around the centres of pressure. In the northern half of the world, the wind turns anticlockwise around a low and clockwise around a high. Sailors learned this long before anyone could explain it, and they used it to guess where a storm was and which way it would move.

Forecasting the weather means measuring the state of the atmosphere now and calculating how it will change. Thousands of stations measure temperature, pressure, humidity, and wind. Balloons carry instruments high into the air. Satellites watch the clouds from above. Computers take all of these measurements and step the atmosphere forward in time, a few minutes at a time, using the laws of physics. The forecast for tomorrow is usually good, the forecast for next week is a reasonable guess, and the forecast for next month is more of a hope than a promise.

On a clear night away from the lights of a town, the sky shows a few thousand stars to the naked eye. They seem to turn slowly around a point near the pole star, because the earth is turning underneath them. The planets wander against the background of the stars from week to week, which is how they got their name, from an old word meaning wanderer. The moon changes its shape over about twenty-nine and a half days, from a thin crescent to a full circle and back, and the tides follow it, rising and falling twice a day along the coast.

)corpus"
R"corpus(The Library With the Red Door

The library is the oldest public building in town, and the red door is the newest part of it. The old door was brown and heavy and stuck in wet weather, so the council replaced it, and somebody chose red, and after a short argument everybody decided they liked it. Inside, the floor creaks, the radiators tick, and the light comes through tall windows onto long tables where people read, write, study, and occasionally fall asleep.

The librarian knows where everything is, including the things that are not where they should be. She can find a book from a half-remembered description: "It was blue, I think, and there was a dog in it, and it was about a family who moved to the coast." She will frown, walk to a shelf, and come back with exactly the right book, or with a better one. She says that the catalogue tells you where a book ought to be, and experience tells you where it actually is.

Books are arranged by subject, and each subject has a number. History sits near geography, because the two are always borrowing from each other. Cookery is near gardening, which seems sensible. Poetry is next to plays, and both are next to novels, and the novels are sorted by the author's surname from A to Z. Children's books have their own room with small chairs, a rug shaped like a map of the world, and a reading hour every Wednesday afternoon.

A library is one of the few places where nobody expects you to buy anything. You can come in from the cold, sit down, and read the newspaper for an hour. You can look up the history of your street, learn a language, find a recipe, or fill in a form with help from someone who has seen that form a hundred times. The books are borrowed, read, and returned, and then borrowed again by someone else, so that a single copy of a good book may pass through hundreds of pairs of hands.

The Saturday Market

On Saturday the square fills with stalls before the sun is properly up. The farmers arrive first, with vans full of crates: potatoes still dusty from the field, bunches of carrots with their green tops, onions, leeks, cabbages, and in summer, strawberries so ripe that they have to be eaten the same day. The cheese seller sets up a folding table and arranges the wheels and wedges by strength, mild on the left and fierce on the right. The fishmonger lays out ice and then the fish on top of it, silver and blue and pink, with a sign that says what was caught and where.

There is a stall that sells nothing but honey, in jars of every shade from pale gold to nearly black. The beekeeper explains that the colour and flavour depend on the flowers the bees visited: clover honey is light and mild, heather honey is dark and strong, and honey from the lime trees tastes faintly of mint. There is a stall of secondhand books, a stall of tools, a stall of wool and buttons, and a man who sharpens knives while you wait, with a stone wheel that throws out a thin arc of sparks.

At the far end, near the fountain, a small café sells coffee, hot chocolate, and pastries. The owner learned to bake in Lyon and likes to say so. Her croissants are crisp outside and soft inside, her crème brûlée has a glassy top that cracks under the spoon, and her façade is painted the colour of apricots. A visitor once asked whether the name of the café, written over the door in curling letters, meant anything. "It means 'the corner'," she said. "It's on a corner. I'm not a poet."

The market closes at one o'clock. By half past, the stalls are folded, the vans are gone, and the street sweepers are chasing cabbage leaves across the cobbles. The square is empty again, and a little quieter than it was before the market came, as if it were resting.

Music Without Words

A melody is a line of notes that the ear can follow. It rises and falls, pauses, returns to where it began, and leaves the listener with a sense that something has been said, even though there were no words. Harmony is what happens when several notes sound together. Rhythm is the pattern of long and short, strong and weak, that makes us tap our feet. Put those three together and you have most of what music is.

The notes of a scale are not spaced at random. When a string is halved, it sounds a note that is the same as the first one, only higher. This is called an octave. Most musical traditions divide the octave into smaller steps, and in much of the world there are twelve of them, of which seven are used in an ordinary scale. The spacing of the steps gives a scale its character: bright, sad, bold, mysterious.

Learning an instrument is slow. The fingers must learn where to go, the ear must learn what to listen for, and the mind must learn to read the music and look ahead at the same time. Every beginner sounds terrible for a while, and every good player remembers what that was like. The secret, if there is one, is to practise a little every day rather than a lot once a week, and to play things you enjoy, so that you want to come back tomorrow.

)corpus"
R"corpus(The Fox and the Well

A fox who was very thirsty came one evening to an old well at the edge of a field. The bucket hung at the top on its rope, and far below, the water shone like a coin. The fox stepped into the bucket to look more closely, and the bucket, which was heavier on the other side, began to sink. Down went the fox, all the way to the water, while the second bucket rose to the top.

The fox drank as much as it wanted, and then it looked up and understood that it had no way out. It sat in the bucket and thought. After a while a goat came to the well, also thirsty, and peered over the edge.

"Is the water good?" asked the goat.

"It's the best water in the whole country," said the fox. "Cold, clean, and sweet. Come down and taste it! There's plenty for both of us!"

The goat, who was not in the habit of thinking before acting, jumped into the other bucket. Down went the goat, and up came the fox. The fox stepped out onto the grass, shook itself, and looked back into the well.

"You should have asked how I planned to get out," it said, "before you asked how the water tasted." And it trotted away into the dusk.

The story is very old and has been told in many ways, sometimes with a wolf, sometimes with two frogs, sometimes with a man and his neighbour. The lesson is always the same: look at the way out before you take the way in.

Instructions for Using a Computer Program

Computers do exactly what they are told, which is both their great strength and their great weakness. A program is a list of instructions written in a language that the machine can follow. The instructions must be precise, because the computer cannot guess what you meant. If you ask it to divide a number by zero, it will not shrug and carry on. It will stop and complain, or worse, it will carry on with a result that makes no sense.

Most programs follow a simple pattern. They read some input, do some work on it, and write some output. The input might be a file, a message from another program, or keys pressed on a keyboard. The work might be a calculation, a search, or a transformation from one format to another. The output might be a number on the screen, a new file, or a reply sent back across a network.

When a program fails, it usually says why, and the message is worth reading carefully. "File not found" means that the name or the folder is wrong. "Permission denied" means that the file exists but the program is not allowed to open it. "Out of memory" means that the work was too large for the machine, or that the program asked for far more than it needed. A good error message names the thing that went wrong and suggests what to do about it.

Programmers write tests to check that their programs behave as expected. A test feeds the program a known input and compares the output with an answer worked out in another way, by hand or by a simpler method. If the two agree, the test passes. If they differ, the programmer looks for the mistake. Tests do not prove that a program is correct, but they catch many mistakes early, while they are still small and easy to fix.

Some symbols appear again and again in programs and in the files they read: the equals sign (=), the plus (+) and minus (-) signs, the asterisk (*) for multiplication, the slash (/) for division, the percent sign (%) for remainders, brackets [like these], braces {like these}, angle brackets <like these>, the hash sign (#), the at sign (@), the ampersand (&), the vertical bar (|), the tilde (~), the caret (^), the dollar sign ($), the backslash (\), and the underscore (_). A file name such as report_2024_final.txt uses underscores instead of spaces, and a web address such as https://example.org/index.html uses slashes to separate its parts.

A Letter to a Friend Abroad

Dear Ana,

Thank you for your letter, which arrived on Thursday with a stamp I had never seen before, a blue bird on a branch. I've put it on the windowsill next to the postcard you sent from the mountains last year. Your description of the city made me want to get on a plane at once: the trams, the tiled fronts of the houses, the smell of roasting chestnuts on the corners in the evening.

Things here are quiet, as usual. The river is high after a wet week, the bakery on the corner has a new oven, and the market has started selling those small sweet tomatoes again. I've been learning to play the piano, very slowly. I can now play two pieces without stopping, as long as nobody is listening. Next month I'm going to visit my brother in Zürich, and after that, perhaps, a week by the sea.

You asked what I've been reading. I finished the long novel you recommended, the one about the family and the orchard. It took me three months, and I loved every page of it, even the chapters about the weather. I've started a book about the history of clocks, which is better than it sounds, and a collection of short stories that I read one at a time, just before sleep.

Write soon and tell me everything: the new job, the apartment, the neighbours, the food. Is the coffee as good as you hoped? Have you found a café where they know your name yet? I want to imagine you there properly.

With love, and with the usual apologies for my handwriting,
Tom

P.S. I'm enclosing a photograph of the garden. The tall yellow flowers are the sunflowers we planted together three summers ago. They've seeded themselves every year since, and now there are forty-one of them. I counted.

)corpus"
R"corpus(Words Borrowed From Other Languages

English is a great borrower. It takes words from every language it meets and keeps them, usually without giving them back. Some borrowed words keep their accents for a while and then lose them. A person may write "café" or "cafe", "naïve" or "naive", "résumé" or "resume", and all of them will be understood. Other words arrive and settle in so completely that nobody remembers they were ever foreign: window, sky, and egg came from the north with sea raiders; butter and cheese came with traders from across the water; and hundreds of words for law, food, and fashion came from French after the old kings of England began to speak it at court.

Cooking is full of borrowed words. A jalapeño is a pepper, a piñata is a paper figure full of sweets, and a crêpe is a thin pancake. Sauté means to fry quickly, purée means to crush into a smooth paste, and à la carte means that each dish is ordered separately. In music, piano and forte describe how softly or loudly to play, and allegro asks for a quick, cheerful pace. In science, the ångström is a unit of length equal to a ten-billionth of a metre, named after a physicist who studied light.

Place names travel too. São Paulo, Kraków, Reykjavík, Düsseldorf, and Málaga are written with their accents in careful books and without them on many road signs and tickets. Names of people follow the same pattern: Chloë, Zoë, José, Renée, and Björn can all be found with or without their marks, depending on who is writing and how much care they take.

Some languages use alphabets very different from the Latin one. Greek has letters like α, β, γ, and Ω, which scientists borrowed for angles, constants, and units. Russian uses the Cyrillic alphabet, in which the word for peace and also for world is мир. Chinese uses characters rather than letters, so that 水 means water and 山 means mountain, and Japanese mixes those characters with two syllable alphabets. A modern computer can show all of these side by side, because each character has its own number in one large shared table.

A Short Glossary of Everyday Things

Anchor: a heavy hook that holds a boat in place on the bottom of the sea.
Barometer: an instrument that measures the pressure of the air, and so helps to predict the weather.
Compass: a magnetised needle that points north, used for finding direction.
Dough: a mixture of flour and water, stiff enough to knead and shape.
Escapement: the part of a clock that releases the energy of the spring one tick at a time.
Ferry: a boat that carries people and vehicles across a river or a stretch of sea, back and forth on a fixed route.
Gutter: a channel that carries rainwater away from a roof or along the edge of a road.
Harbour: a sheltered stretch of water where ships can stay safely.
Index: a list at the back of a book that shows on which pages each subject can be found.
Journey: the act of travelling from one place to another, especially a long way.
Kettle: a pot with a spout and a lid, used for boiling water.
Ladder: a set of rungs between two long sides, used for climbing up and down.
Meridian: an imaginary line on the surface of the earth from pole to pole.
Needle: a thin pointed piece of steel with a hole at one end for thread.
Orchard: a piece of land where fruit trees are grown.
Pendulum: a weight hanging from a fixed point so that it can swing freely back and forth.
Quarry: a place where stone is cut or dug out of the ground.
Recipe: a set of instructions for preparing a dish, with a list of ingredients.
Satellite: a body or a machine that travels around a planet.
Tide: the regular rise and fall of the sea, caused mostly by the pull of the moon.
Umbrella: a folding frame covered with cloth, held over the head for protection against rain.
Valley: a low area of land between hills or mountains, often with a river running through it.
Workshop: a room or building where things are made or repaired.
Yeast: a tiny living fungus used to make bread rise and to ferment drinks.
Zero: the number that means none at all, and the digit that holds an empty place.

)corpus";

}  // namespace

std::string_view VocabCorpus() { return std::string_view(kCorpus, sizeof(kCorpus) - 1); }

}  // namespace tessera
